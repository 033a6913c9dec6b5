FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY hub ./hub
RUN pip install --no-cache-dir . && useradd --system hub
USER hub
EXPOSE 8080
CMD ["hub", "serve", "--host", "0.0.0.0"]
