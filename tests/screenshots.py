"""The README's screenshots, taken from the running demo so that they show the app as it is.

    make run                       # in one terminal
    make screenshots               # in another: writes docs/screenshots/*.png

It logs in as the demo's admin (passwords from var/demo-logins.json), walks the demo dataset
through the loop by pressing the one next action its page offers (evaluate the fine-tune
against its base, compare the two, promote the winner), and captures the pages the README's
tour shows; the review page is captured as the reviewer. Run it on a fresh demo
(`make run RESET_DEMO=1` is not needed: a demo already promoted is captured as it stands).
Needs Playwright (the `dev` extra) and Debian's chromium.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
DATASET = "support-demo"
VIEWPORT = {"width": 1280, "height": 860}


def log_in(page: Any, base: str, user: str, password: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", user)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def next_action(page: Any, base: str) -> str:
    page.goto(f"{base}/d/{DATASET}/")
    return " ".join(page.locator(".loop-next").inner_text().split())


def wait_for_next_action(
    page: Any, base: str, *, leaving: tuple[str, ...], seconds: float = 180
) -> str:
    """The dataset's next action once the background jobs moved it past `leaving`."""
    deadline = time.monotonic() + seconds
    text = next_action(page, base)
    while any(words in text for words in leaving):
        if time.monotonic() > deadline:
            raise SystemExit(f"still '{text}' after {seconds:.0f} s: is the worker running?")
        time.sleep(2)
        text = next_action(page, base)
    return text


def shoot(page: Any, out: Path, name: str, *, full_page: bool = False) -> None:
    page.wait_for_load_state("networkidle")
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    print(f"{path.relative_to(ROOT)}  {path.stat().st_size // 1024} KB  ({page.url})")


def walk_the_loop(page: Any, base: str, out: Path) -> None:
    """Press the dataset's next action until the fine-tune is promoted, capturing the tour."""
    text = next_action(page, base)
    if "Evaluate vs base" in text:
        page.locator(".loop-next .loop-action").click()
        text = wait_for_next_action(
            page, base, leaving=("not evaluated yet", "evaluation is running")
        )
    if "Compare with its base" in text:
        page.locator(".loop-next .loop-action").click()
        page.get_by_role("button", name="Compare").click()
        page.wait_for_url(re.compile(r".*/evaluation/comparisons/\d+/$"))
        comparison = page.url
        wait_for_next_action(page, base, leaving=("not yet compared",))
        page.goto(comparison)
    else:
        page.goto(f"{base}/d/{DATASET}/evaluation/")
        latest = page.locator("a[href*='/evaluation/comparisons/']:not([href$='/new/'])").first
        if latest.count():
            latest.click()
    if "/comparisons/" in page.url:
        shoot(page, out, "comparison")
    text = next_action(page, base)
    if "Promote" in text:
        page.locator(".loop-next .loop-action").click()
        page.get_by_role("button", name="Promote").click()
    page.goto(f"{base}/d/{DATASET}/registry/")
    shoot(page, out, "registry")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--logins", default=str(ROOT / "var" / "demo-logins.json"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    options = parser.parse_args()
    base = options.base.rstrip("/")
    logins = json.loads(Path(options.logins).read_text())
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox"]
        )
        admin = browser.new_context(viewport=VIEWPORT).new_page()
        log_in(admin, base, "admin", logins["admin"])
        admin.goto(f"{base}/")
        shoot(admin, out, "home")
        admin.goto(f"{base}/d/{DATASET}/")
        shoot(admin, out, "dataset")
        admin.goto(f"{base}/d/{DATASET}/training/")
        admin.locator("#job-table a[href*='/training/']").first.click()
        shoot(admin, out, "job")
        walk_the_loop(admin, base, out)
        reviewer = browser.new_context(viewport=VIEWPORT).new_page()
        log_in(reviewer, base, "reviewer", logins["reviewer"])
        reviewer.goto(f"{base}/d/{DATASET}/")
        reviewer.locator(".loop-next .loop-action").click()
        shoot(reviewer, out, "review")
        browser.close()


if __name__ == "__main__":
    main()
