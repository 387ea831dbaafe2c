"""The console in a real browser: Debian's Chromium driven by Selenium against a real server.

The server is gunicorn on a free loopback port over the test database, so the data the tests
use is committed (in 牌头镇, which no other test touches) and removed afterwards. One headless
browser for the module; every request it makes is recorded from Chrome's performance log and
must go to the app's own host. A screenshot of each page is kept under var/screenshots/.

Needs /usr/bin/chromium and /usr/bin/chromedriver (`scripts/dev.sh test` installs them); no
driver or browser is downloaded (both paths are given, so selenium-manager never runs).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from tests.factories import PASSWORD, cells_of, make_user, village_with_cells

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SHOTS = os.path.join(ROOT, "var", "screenshots")
TOWNSHIP, OTHER_TOWNSHIP = "330681115", "330681116"  # 牌头镇, 同山镇
USERS = ("b_center", "b_leader", "b_village", "b_med", "b_gw", "b_other_gw")
XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">邻里纠纷'

pytestmark = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
    reason="chromium / chromedriver missing (scripts/dev.sh test installs them)",
)


# ------------------------------------------------------------------ data (committed)


def _register(app, db_session, user, cell, **over):
    from api.disputes import settings, store
    from api.schemas.disputes import DisputeIn
    from core.clock import business_date
    from mediation.disputes.registration import register_dispute
    from mediation.pii import vault_for
    from mediation.users.actor import load_actor
    from tests.factories import dispute_payload

    now = datetime.now(UTC)
    actor = load_actor(db_session, user=user, today=business_date(now))
    with app.test_request_context():
        data = DisputeIn().load(dispute_payload(db_session, cell, **over))
        case, _, _ = register_dispute(
            db_session,
            actor=actor,
            data=data,
            photos=[],
            now=now,
            settings=settings(),
            vault=vault_for(app.config["PII_KEY"]),
            store=store(),
        )
    return case


def _act(app, db_session, user, case, action, **payload):
    from api.disputes import settings
    from core.clock import business_date
    from mediation.disputes.flow import act
    from mediation.users.actor import load_actor

    now = datetime.now(UTC)
    actor = load_actor(db_session, user=user, today=business_date(now))
    with app.test_request_context():
        act(
            db_session,
            actor=actor,
            dispute_id=case.id,
            action=action,
            payload=payload,
            expected_version=case.version,
            now=now,
            settings=settings(),
        )


def _cleanup(db):
    with db.engine.begin() as conn:
        for trigger, table in (
            ("dispute_event_append_only", "dispute_event"),
            ("access_log_append_only", "access_log"),
            ("monthly_report_submitted_frozen", "monthly_report"),
        ):
            conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}"))
        ids = "SELECT id FROM user_account WHERE username = ANY(:u)"
        conn.execute(text(f"DELETE FROM access_log WHERE user_id IN ({ids})"), {"u": list(USERS)})
        for t in (TOWNSHIP, OTHER_TOWNSHIP):  # no other test touches these two townships
            for table in ("risk_signal", "stability_item", "review_meeting"):  # issue 21
                conn.execute(text(f"DELETE FROM {table} WHERE township_code = :t"), {"t": t})
            conn.execute(text("DELETE FROM dispute WHERE township_code = :t"), {"t": t})
            conn.execute(
                text("DELETE FROM case_counter WHERE village_code LIKE :p"), {"p": t + "%"}
            )
            conn.execute(text("DELETE FROM monthly_report WHERE area_code LIKE :p"), {"p": t + "%"})
        conn.execute(
            text(f"DELETE FROM dispute WHERE registered_by IN ({ids})"), {"u": list(USERS)}
        )
        conn.execute(
            text(f"DELETE FROM reminder WHERE recipient_id IN ({ids})"), {"u": list(USERS)}
        )
        conn.execute(text("DELETE FROM user_account WHERE username = ANY(:u)"), {"u": list(USERS)})
        for trigger, table in (
            ("dispute_event_append_only", "dispute_event"),
            ("access_log_append_only", "access_log"),
            ("monthly_report_submitted_frozen", "monthly_report"),
        ):
            conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}"))


@pytest.fixture(scope="module")
def world(app):
    """Users of 牌头镇 and four cases: escalated to the township, RED, one with a script in its
    description, and one in 同山镇 (outside)."""
    from core.db import db

    with app.app_context():
        village = village_with_cells(db.session, TOWNSHIP, min_cells=2)
        other_village = village_with_cells(db.session, OTHER_TOWNSHIP, min_cells=1)
        _cleanup(db)  # leftovers of an interrupted run
        cells, other_cells = cells_of(db.session, village), cells_of(db.session, other_village)
        s = db.session
        u = {
            "center": make_user(
                app, s, "b_center", [{"role": "center_staff", "area_code": TOWNSHIP}]
            ),
            "leader": make_user(app, s, "b_leader", [{"role": "leader", "area_code": TOWNSHIP}]),
            "village": make_user(
                app, s, "b_village", [{"role": "village_admin", "area_code": village}]
            ),
            "med": make_user(app, s, "b_med", [{"role": "mediator", "area_code": village}]),
            "gw": make_user(app, s, "b_gw", [{"role": "grid_worker"}], cells[:2]),
            "other_gw": make_user(app, s, "b_other_gw", [{"role": "grid_worker"}], other_cells[:1]),
        }
        escalated = _register(app, s, u["gw"], cells[0], description="两户因宅基地界址发生争执")
        _act(app, s, u["med"], escalated, "escalate", to_level="township", reason="村级调解不成")
        red = _register(
            app, s, u["gw"], cells[1], description="山林承包纠纷，双方扬言动手", category="07"
        )
        _act(app, s, u["med"], red, "assess_risk", likelihood=5, severity=4)
        xss = _register(app, s, u["gw"], cells[0], description=XSS, category="11")
        outside = _register(app, s, u["other_gw"], other_cells[0], description="外镇纠纷")
        s.commit()
        out = {
            "village": village,
            "escalated": str(escalated.id),
            "escalated_number": escalated.case_number,
            "red": str(red.id),
            "xss": str(xss.id),
            "outside": str(outside.id),
        }
        s.remove()
    yield out
    with app.app_context():
        _cleanup(db)


# ------------------------------------------------------------------ server and browser


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(world):
    port = _free_port()
    bind = f"127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": os.environ["TEST_DATABASE_URL"],
        "APP_ENV": "development",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST": "1024",
        "ACCESS_LOG": "",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "1", "--threads", "4", "-b", bind, "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/v1/health", timeout=1)
            break
        except OSError as e:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                err = proc.stderr.read().decode()[-2000:]
                raise RuntimeError(f"server did not start: {err}") from e
            time.sleep(0.2)
    yield base
    proc.terminate()
    proc.wait(timeout=20)


class Requests:
    """Every request the browser made (Chrome performance log), with the statuses it got."""

    def __init__(self, driver):
        self.driver = driver
        self.urls: list[str] = []
        self.status: dict[str, int] = {}

    def drain(self):
        for entry in self.driver.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            params = msg.get("params", {})
            if msg["method"] == "Network.requestWillBeSent":
                self.urls.append(params["request"]["url"])
            elif msg["method"] == "Network.responseReceived":
                self.status[params["response"]["url"]] = params["response"]["status"]


@pytest.fixture(scope="module")
def browser(server):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1366,768",
        "--lang=zh-CN",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    os.makedirs(SHOTS, exist_ok=True)
    yield driver
    driver.quit()


@pytest.fixture
def page(browser, server):
    """The browser, logged out, with this test's requests recorded and checked afterwards."""
    browser.delete_all_cookies()
    browser.get_log("performance")
    rec = Requests(browser)
    yield browser, rec
    rec.drain()
    foreign = [
        u for u in rec.urls if not (u.startswith(server + "/") or u.startswith(("data:", "blob:")))
    ]
    assert rec.urls, "no request was recorded"
    assert not foreign, f"requests to other hosts: {foreign}"


def _wait(driver, cond, timeout=15, ignored=()):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, ignored_exceptions=ignored).until(cond)


def _css(driver, selector, timeout=15):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    return _wait(driver, ec.presence_of_element_located((By.CSS_SELECTOR, selector)), timeout)


def _navigate(driver, element):
    """Click something that loads a new page, and wait until the new page has loaded."""
    driver.execute_script("window.__oldPage = true;")
    element.click()
    from selenium.common.exceptions import WebDriverException

    _wait(
        driver,
        lambda d: d.execute_script(
            "return window.__oldPage === undefined && document.readyState === 'complete'"
        ),
        ignored=(WebDriverException,),  # a script sent while the page is being replaced
    )


def _login(driver, server, username):
    driver.get(f"{server}/console/login")
    driver.find_element("id", "username").send_keys(username)
    driver.find_element("id", "password").send_keys(PASSWORD)
    _navigate(driver, driver.find_element("id", "login-submit"))
    _css(driver, ".who")


def _shot(driver, name):
    driver.save_screenshot(os.path.join(SHOTS, f"{name}.png"))


# ------------------------------------------------------------------ stories


def test_centre_officer_accepts_an_escalation_dispatches_it_and_it_leaves_the_queue(
    page, server, world
):
    driver, rec = page
    _login(driver, server, "b_center")
    assert driver.current_url.endswith("/console/queue")
    row = _css(driver, f'#queue-escalations tr[data-case-id="{world["escalated"]}"]')
    _shot(driver, "queue-before")
    _navigate(driver, row.find_element("css selector", "a"))
    _css(driver, '[data-action-button="accept_escalation"]').click()
    _navigate(driver, _css(driver, '[data-submit="accept_escalation"]'))
    assert "已接收上报" in _css(driver, ".flash").text
    assert "乡镇" in driver.find_element("css selector", ".case-head").text
    # 交办 without a reason: the table's refusal beside the field
    driver.find_element("css selector", '[data-action-button="return_down"]').click()
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", "return_down-to_level")).select_by_value("village")
    _navigate(driver, driver.find_element("css selector", '[data-submit="return_down"]'))
    err = _css(driver, '#action-return_down .field-error[data-field="reason"]')
    assert err.text == "必填项不能为空"
    Select(driver.find_element("id", "return_down-to_level")).select_by_value("village")
    driver.find_element("id", "return_down-reason").send_keys("交由村调委会继续调解")
    _navigate(driver, driver.find_element("css selector", '[data-submit="return_down"]'))
    assert "已交办/回退下级" in _css(driver, ".flash").text
    timeline = driver.find_element("id", "timeline").text
    assert "接收上报" in timeline and "交办/回退下级" in timeline
    _shot(driver, "case-after-dispatch")
    driver.get(f"{server}/console/queue")
    body = _css(driver, "#queue-new").get_attribute("innerHTML")
    body += driver.find_element("id", "queue-escalations").get_attribute("innerHTML")
    assert world["escalated"] not in body
    _shot(driver, "queue-after")
    # the 派单·移送·督办 lists and the case's channel panel (issue 20)
    driver.get(f"{server}/console/channels")
    assert "待反馈的移送" in _css(driver, "main h1 ~ section").find_element("xpath", "..").text
    _shot(driver, "channels")
    driver.get(f"{server}/console/cases/{world['escalated']}")
    assert "来源、派单、移送与督办" in _css(driver, "#channel-panel").text
    _shot(driver, "case-channel-panel")


def test_village_head_submits_the_report_and_cannot_change_it(page, server, world):
    driver, rec = page
    _login(driver, server, "b_village")
    assert "/console/reports" in driver.current_url
    narrative = _css(driver, "#narrative")
    narrative.clear()
    narrative.send_keys("本月开展矛盾纠纷排查4次，走访农户120户，化解邻里纠纷2件。")
    _navigate(driver, driver.find_element("id", "save-narrative"))
    assert "已保存" in _css(driver, ".flash").text
    _navigate(driver, driver.find_element("id", "submit-report"))
    assert "月报已报送" in _css(driver, ".flash").text
    assert "已报送" in driver.find_element("id", "report-status").text
    assert not driver.find_elements("id", "narrative")  # no form any more
    assert "走访农户120户" in driver.find_element("id", "narrative-text").text
    report_id = driver.find_element("css selector", "section.report").get_attribute("id")[7:]
    status = driver.execute_script(
        """const token = document.querySelector('input[name=csrf_token]').value;
           const body = new URLSearchParams({csrf_token: token, narrative: '改过的内容'});
           const r = await fetch('/console/reports/' + arguments[0] + '/narrative',
                                 {method: 'POST', body});
           return r.status;""",
        report_id,
    )
    assert status == 409
    driver.refresh()
    assert "走访农户120户" in _css(driver, "#narrative-text").text
    _shot(driver, "report-submitted")


def test_leader_opens_a_red_case_from_the_map(page, server, world):
    driver, rec = page
    _login(driver, server, "b_leader")
    assert driver.current_url.endswith("/console/dashboard")
    _css(driver, "#chart-trend canvas")
    _css(driver, "#chart-children canvas")
    _shot(driver, "dashboard")
    driver.get(f"{server}/console/map")
    _css(driver, "#map[data-loaded]", timeout=30)
    marker = _css(driver, "path.case-marker.risk-red")
    _shot(driver, "map")
    marker.click()
    link = _css(driver, ".case-popup a.open-case")
    popup = driver.find_element("css selector", ".case-popup")
    assert popup.get_attribute("data-case-id") == world["red"]
    assert "张三" not in popup.text and "138" not in popup.text  # no personal data
    _navigate(driver, link)
    assert "红色风险" in _css(driver, "#case-risk").text
    assert world["red"] in driver.current_url
    _shot(driver, "red-case")


def test_out_of_area_case_is_404_and_a_script_shows_as_text(page, server, world):
    driver, rec = page
    _login(driver, server, "b_center")
    url = f"{server}/console/cases/{world['outside']}"
    driver.get(url)
    assert "未找到该案件" in _css(driver, ".error-page").text
    rec.drain()
    assert rec.status.get(url) == 404
    _shot(driver, "out-of-area-404")
    driver.get(f"{server}/console/cases/{world['xss']}")
    description = _css(driver, "#case-description").text
    assert description == XSS
    assert driver.execute_script("return window.__xss === undefined")
    _shot(driver, "case-with-script-text")


def test_a_form_without_the_csrf_token_is_refused(page, server, world):
    driver, rec = page
    _login(driver, server, "b_center")
    driver.get(f"{server}/console/cases/{world['xss']}")
    _css(driver, '[data-action-button="assess_risk"]').click()
    driver.execute_script(
        """const form = document.querySelector('#action-assess_risk form');
           form.querySelector('input[name=csrf_token]').remove();
           form.querySelector('[name=likelihood]').value = '2';
           form.querySelector('[name=severity]').value = '2';
           form.submit();"""
    )
    assert "CSRF" in _css(driver, ".error-page").text
    rec.drain()
    url = f"{server}/console/cases/{world['xss']}/actions/assess_risk"
    assert rec.status.get(url) == 400
    _shot(driver, "csrf-refused")
    driver.get(f"{server}/console/cases/{world['xss']}")
    assert "风险研判" not in driver.find_element("id", "timeline").text


def test_walk_in_registration_with_a_point_picked_on_the_map(page, server, world):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import Select

    driver, rec = page
    _login(driver, server, "b_center")
    driver.get(f"{server}/console/register")
    _css(driver, "#pick-map[data-loaded]", timeout=30)
    Select(driver.find_element("id", "category")).select_by_value("03")
    driver.execute_script(
        "document.getElementById('occurred_at').value = arguments[0];", "2026-11-30T09:30"
    )
    driver.find_element("id", "description").send_keys("来访群众反映宅基地边界争议")
    driver.find_element("id", "party0_name").send_keys("王五")
    _navigate(driver, driver.find_element("id", "register-submit"))
    # no place given: refused beside the field
    assert "请在地图上点选" in _css(driver, '.field-error[data-field="location"]').text
    pick = _css(driver, "#pick-map[data-loaded]", timeout=30)
    village = driver.execute_script(
        "return document.querySelector('#pick-map path.leaflet-interactive') !== null"
    )
    assert village
    path = driver.find_element("css selector", "#pick-map path.leaflet-interactive")
    ActionChains(driver).move_to_element(path).click().perform()
    assert "已选" in driver.find_element("id", "picked").text
    assert pick.is_displayed()
    _shot(driver, "register")
    _navigate(driver, driver.find_element("id", "register-submit"))
    assert "已登记，案件编号" in _css(driver, ".flash").text
    assert "来访群众反映宅基地边界争议" in driver.find_element("id", "case-description").text
    assert "牌头镇" in driver.find_element("css selector", ".facts").text


def test_reveal_with_a_purpose_shows_the_phone_and_writes_the_access_log(app, page, server, world):
    from core.db import db

    driver, rec = page
    _login(driver, server, "b_center")
    driver.get(f"{server}/console/cases/{world['red']}")
    assert "13800138000" not in driver.page_source
    buttons = driver.find_elements("css selector", '[data-open-dialog$="-phone"]')
    buttons[0].click()
    dialog = _css(driver, "dialog[open]")
    dialog.find_element("name", "purpose").send_keys("电话回访当事人")
    _shot(driver, "reveal-dialog")
    _navigate(driver, dialog.find_element("css selector", "button[type=submit]"))
    assert _css(driver, "#revealed-value").text == "13800138000"
    with app.app_context():
        purpose = db.session.scalar(
            text(
                "SELECT l.purpose FROM access_log l JOIN user_account u ON u.id = l.user_id "
                "WHERE u.username = 'b_center' AND l.action = 'reveal' AND l.field = 'phone'"
            )
        )
        db.session.remove()
    assert purpose == "电话回访当事人"


def test_screening_coverage_shows_the_village_and_its_zero_report(app, page, server, world):
    from api.schemas.screening import RoundIn
    from api.screening import store
    from core.clock import business_date
    from core.db import db
    from mediation.screening import rounds
    from mediation.users.actor import load_actor
    from mediation.users.models import User
    from tests.test_authorization_matrix import _round_payload

    driver, rec = page
    now = datetime.now(UTC)
    with app.app_context():
        s = db.session
        cell = cells_of(s, world["village"])[0]
        gw = s.query(User).filter_by(username="b_gw").one()
        rnd, _ = rounds.record_round(
            s,
            actor=load_actor(s, user=gw, today=business_date(now)),
            data=RoundIn().load(_round_payload(cell)),
            photos=[],
            now=now,
            store=store(),
        )
        s.commit()
        round_id = rnd.id
        s.remove()
    try:
        _login(driver, server, "b_center")
        driver.get(f"{server}/console/screening")
        row = _css(driver, f'#coverage-table tr[data-code="{world["village"]}"]')
        cells = row.find_elements("css selector", "td")
        screened, total = (int(x) for x in cells[1].text.split(" / "))
        assert screened >= 1 and total >= 2
        assert cells[2].text == f"{screened / total * 100:.1f}%"
        assert int(cells[4].text) >= 1  # 零报告
        assert driver.find_element("id", "coverage-total").text.endswith("%")
        _shot(driver, "screening-township")
        _navigate(driver, row.find_element("css selector", "a"))
        state = _css(driver, f'#coverage-table tr[data-code="{cell}"] [data-state]')
        assert state.get_attribute("data-state") == "zero" and state.text == "零报告"
        _shot(driver, "screening-village")
    finally:
        with app.app_context():
            db.session.execute(text("DELETE FROM screening_round WHERE id = :i"), {"i": round_id})
            db.session.commit()
            db.session.remove()


def test_risk_register_confirms_an_offered_dispute_and_counts_it(app, page, server, world):
    """Issue 21: a road project in the village; the centre confirms the offered case on the
    item page, the register then counts one dispute produced, and the signals page lists the
    grid worker's signal."""
    from api.disputes import settings
    from api.schemas.risks import ItemIn, SignalIn
    from core.clock import business_date
    from core.db import db
    from mediation.risks import register, signals
    from mediation.users.actor import load_actor
    from mediation.users.models import User
    from tests.factories import point_in
    from tests.test_risks import zone_of

    driver, rec = page
    now = datetime.now(UTC)
    with app.app_context(), app.test_request_context():
        s = db.session
        cell = cells_of(s, world["village"])[0]
        center = s.query(User).filter_by(username="b_center").one()
        gw = s.query(User).filter_by(username="b_gw").one()
        item = register.register_item(
            s,
            actor=load_actor(s, user=center, today=business_date(now)),
            data=ItemIn().load(
                {
                    "township_code": TOWNSHIP,
                    "kind": "project",
                    "title": "环村公路拓宽工程",
                    "subject": "拓宽村道并征收沿线农田",
                    "decision_maker": "镇党委会议",
                    "key_areas": ["涉农问题", "征地拆迁"],
                    "geometry": zone_of(s, cell),
                }
            ),
            now=now,
        )
        x, y = point_in(s, cell)
        signals.record_signal(
            s,
            actor=load_actor(s, user=gw, today=business_date(now)),
            data=SignalIn().load(
                {
                    "location": {"lon": x, "lat": y, "crs": "wgs84"},
                    "key_area": "征地拆迁",
                    "description": "施工车辆夜间占道，沿线村民有意见",
                    "observed_at": now.isoformat(),
                }
            ),
            now=now,
            settings=settings(),
        )
        s.commit()
        item_id = item.id
        s.remove()
    _login(driver, server, "b_center")
    driver.get(f"{server}/console/risks/items/{item_id}")
    button = _css(driver, "#offers form button")
    _shot(driver, "risks-item-offers")
    _navigate(driver, button)
    linked = _css(driver, "#linked table")
    assert world["escalated_number"] in linked.text
    driver.get(f"{server}/console/risks")
    row = _css(driver, f'#register-table tr[data-item-id="{item_id}"]')
    assert row.find_element("css selector", ".disputes-count").text == "1"
    assert int(driver.find_element("id", "fig-signals_found").text) >= 1
    _shot(driver, "risks-register")
    driver.get(f"{server}/console/risks/signals")
    assert "施工车辆夜间占道" in _css(driver, "#signals-table").text
    _shot(driver, "risks-signals")
