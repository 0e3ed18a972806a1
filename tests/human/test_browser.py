"""End to end in a real browser: headless Chromium (Debian's ``chromium`` and ``chromium-driver``,
which ``.ci/run`` installs) driven by Selenium through a whole study with keyboard and mouse, a reload
in the middle (the rater resumes), then the stored judgments and the scores."""

import shutil

import pytest

from ganbench.human.scoring import score_study, wilson_interval
from ganbench.runs import files

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
DRIVER = shutil.which("chromedriver") or next((p for p in ("/usr/lib/chromium/chromedriver",) if shutil.which(p)),
                                               None)  # fmt: skip


@pytest.fixture
def browser():
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("no Chromium or chromedriver on this machine: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=900,900",
                "--disable-extensions", "--no-first-run"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


def _wait(driver, condition, timeout=30):  # generous: CI machines can be slow
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)


def _ready(driver, previous):
    """The next image is loaded and the buttons are enabled; returns its item id."""

    def check(d):
        img = d.find_element(By.ID, "image")
        src = img.get_attribute("src") or ""
        done = d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", img)
        if src and src != previous and done and d.find_element(By.ID, "real").is_enabled():
            return src.rsplit("/", 1)[1].removesuffix(".png")
        return False

    return _wait(driver, check)


def test_a_rater_judges_a_whole_study_with_keyboard_and_mouse(browser, server, study):
    kinds = {it["id"]: it for it in study.read_study()["items"]}
    truth = {i: "real" if it["kind"] == "real" or it["model"] == "gan" else "fake" for i, it in kinds.items()}
    browser.get(server.url)
    intro = _wait(browser, lambda d: d.find_element(By.ID, "intro"))
    _wait(browser, lambda d: intro.is_displayed() and "rater=" in d.current_url)
    rater = browser.current_url.split("rater=")[1]
    assert browser.find_element(By.ID, "rater").text == rater
    ActionChains(browser).send_keys(Keys.ENTER).perform()  # start from the keyboard

    img = browser.find_element(By.ID, "image")
    shown, item = [], None
    for n in range(11):
        item = _ready(browser, item)
        shown.append(item)
        if n == 0:  # shown large and crisp
            assert img.size == {"width": 320, "height": 320}
            assert img.value_of_css_property("image-rendering") == "pixelated"
        assert browser.find_element(By.ID, "count").text == f"{n} of 11 judged"
        answer = truth[item]
        how = n % 3
        if how == 0:  # the mouse
            ActionChains(browser).move_to_element(browser.find_element(By.ID, answer if answer == "real" else "fake")
                                                  ).click().perform()  # fmt: skip
        elif how == 1:  # letters
            ActionChains(browser).send_keys("r" if answer == "real" else "f").perform()
        else:  # arrows
            ActionChains(browser).send_keys(Keys.ARROW_LEFT if answer == "real" else Keys.ARROW_RIGHT).perform()
        if n == 4:  # the rater leaves and comes back: the address resumes them at the next item
            _wait(browser, lambda d: d.find_element(By.ID, "count").text == "5 of 11 judged")
            browser.get(browser.current_url)
            img = browser.find_element(By.ID, "image")
            assert _wait(browser, lambda d: d.find_element(By.ID, "judge").is_displayed())
    _wait(browser, lambda d: d.find_element(By.ID, "thanks").is_displayed())
    assert browser.find_element(By.ID, "count").text == "11 of 11 judged"
    assert browser.find_element(By.ID, "bar").get_attribute("style").replace(" ", "") == "width:100%;"

    browser.find_element(By.LINK_TEXT, "new rater").click()  # another rater, same browser
    _wait(browser, lambda d: d.find_element(By.ID, "intro").is_displayed() and "rater=" in d.current_url)
    assert browser.find_element(By.ID, "rater").text not in ("", rater)
    assert browser.find_element(By.ID, "count").text == "0 of 11 judged"

    stored = files.read_jsonl(study.judgments)
    assert [j["item"] for j in stored] == shown and len(set(shown)) == 11
    assert all(j["rater"] == rater and j["answer"] == truth[j["item"]] for j in stored)
    assert all(isinstance(j["ms"], int) and 0 <= j["ms"] < 60_000 for j in stored)
    res = score_study(study.read_study(), stored)
    assert (res["models"]["gan"]["judged_real"], res["models"]["gan"]["judgments"]) == (3, 3)
    assert (res["models"]["vae"]["judged_real"], res["models"]["vae"]["judgments"]) == (0, 3)
    assert (res["real"]["judged_real"], res["real"]["judgments"]) == (3, 3)
    assert (res["models"]["gan"]["ci95_low"], res["models"]["gan"]["ci95_high"]) == pytest.approx(wilson_interval(3, 3))
    assert res["raters"] == 1 and res["raters_excluded"] == []
