FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY hub ./hub
# what docker-compose.yml runs: gunicorn, `hub worker` on PostgreSQL, `hub celery worker`
RUN pip install --no-cache-dir ".[postgres,celery,gunicorn]" && useradd --system hub
USER hub
EXPOSE 8080
CMD ["hub", "serve", "--host", "0.0.0.0"]
