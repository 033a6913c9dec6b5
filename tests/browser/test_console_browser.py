"""A case manager's and an operator's day in the console, in Chromium."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from hub.store.uow import UnitOfWork
from hub.sync import outbox
from tests.console_data import PASSWORD, active_case, add_user, dead_delivery, planning_case


def sign_in(page, hub_url: str, name: str) -> None:
    page.goto(hub_url + "/")
    expect(page).to_have_url(re.compile(r"/signin"))
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_case_manager_works_the_worklist(app, page, hub_url, shoot):
    db = app.extensions["hub.db"]
    add_user(db, "cara", "case-manager")
    river = active_case(db)
    stone = planning_case(db)

    sign_in(page, hub_url, "cara")
    expect(page.get_by_role("heading", name="Worklist")).to_be_visible()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Sam River")  # overdue first
    expect(rows.first).to_contain_text("overdue")
    shoot(page, "worklist")

    page.get_by_label("Name or MRN").fill("MRN-448812")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    page.get_by_role("link", name="Sam River").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Sam River")

    # record a review with goal progress
    review = page.locator("#reviews form")
    review.get_by_label("How").select_option("phone")
    review.get_by_label("Outcome").select_option("progressing")
    review.get_by_label("Review notes").fill("Walks 200 m with a cane.")
    review.get_by_role("button", name="Record review").click()
    expect(page.get_by_role("status")).to_have_text("Review recorded.")
    expect(page.locator("#reviews")).to_contain_text("Walks 200 m with a cane.")

    # add a note
    page.get_by_label("New note").fill("Family meeting set for Friday.")
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_role("status")).to_have_text("Note added.")
    expect(page.locator("#notes")).to_contain_text("Family meeting set for Friday.")
    shoot(page, "case")

    with UnitOfWork(db) as uow:
        stored = uow.cases.get(river.id)
    assert stored.version == river.version + 2
    assert stored.reviews[-1].notes == "Walks 200 m with a cane."
    assert stored.reviews[-1].reviewer == "user:cara"
    assert stored.notes[-1].text == "Family meeting set for Friday."

    # approve the plan of a case in planning
    page.get_by_role("link", name="Worklist").click()
    page.get_by_role("link", name="Alex Stone").click()
    expect(page.locator("#plan")).to_contain_text("Not approved.")
    page.get_by_label("Approving physician").fill("Dr Robin Vale")
    page.get_by_role("button", name="Approve plan").click()
    expect(page.get_by_role("status")).to_have_text("Plan approved.")
    expect(page.locator("#plan")).to_contain_text("Approved by Dr Robin Vale")
    with UnitOfWork(db) as uow:
        assert uow.cases.get(stone.id).plan.approved_by.name == "Dr Robin Vale"

    # the same page on a phone: one column, nothing wider than the screen
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    shoot(page, "case-phone")


def test_operator_sees_a_dead_delivery_and_replays_it(app, page, hub_url, shoot):
    db = app.extensions["hub.db"]
    add_user(db, "olly", "operator")
    row_id = dead_delivery(db, error="HTTP 422: CarePlan.subject does not resolve")

    sign_in(page, hub_url, "olly")
    expect(page.get_by_role("heading", name="Operations")).to_be_visible()
    dead = page.locator("#dead tbody tr")
    expect(dead).to_have_count(1)
    expect(dead.first).to_contain_text("CarePlan.subject does not resolve")
    expect(page.locator("table").first).to_contain_text("failing")
    shoot(page, "operations")

    page.get_by_role("button", name=f"Replay delivery {row_id}").click()
    expect(page.get_by_role("status")).to_have_text(f"Delivery {row_id} is pending again.")
    expect(page.locator("#dead")).to_contain_text("No dead delivery.")
    expect(page.locator("#pending")).to_contain_text("update CarePlan/careplan-case-river")
    with db.sessions() as session:
        assert outbox.get_delivery(session, row_id).status == "pending"


def test_signing_in_with_a_wrong_password_stays_on_the_form(app, page, hub_url, shoot):
    add_user(app.extensions["hub.db"], "cara", "case-manager")
    page.goto(hub_url + "/signin")
    shoot(page, "signin")
    page.get_by_label("User name").fill("cara")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Unknown user name or wrong password.")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Worklist")).to_be_visible()
