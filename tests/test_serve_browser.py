"""`pycorpus serve` in a real browser: Debian's Chromium driven through chromedriver.

With JavaScript: type a query, see the results stream in, click a line, land on the
highlighted line of the right file, follow "+N other files" to a release, open the project
and statistics pages; every page checked in the DOM and in a screenshot. Without JavaScript:
the same search, browse and file pages work. Hostile files (a script tag, an onerror image,
a closing textarea, invalid UTF-8) run nothing: no dialog, no Content-Security-Policy
violation, no console error, no element from their text.
"""
import os
import shutil
import subprocess
import time

import pytest

from conftest import Runner, _tar, sdist
from report_check import png_colours

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

HIT = bytes((255, 243, 176))  # the highlight colour of matches and of the target line (style.css)
HOSTILE = {
    "script.py": b"# <script>alert('xss-script')</script>\nx = 1\n",
    "img.py": b"s = '\"><img src=x onerror=alert(1)>'  # xss-img\n",
    "textarea.py": b"t = '</textarea><script>alert(2)</script>'  # xss-textarea\n",
    "latin1.py": b"name = '\xe9t\xe9'  # xss-latin1 \xff\xfe\n",
    # five short lines (fewer would make it text-long-lines, not stored), then one of ~5 MiB
    "long.py": b"a = 1\nb = 2\nc = 3\nd = 4\ne = 5\nx = '" + b"<script>alert(3)</script>" * 200000 + b"'  # xss-longline\n",
}
SHARED = b"import os\n\n\ndef frobnicate(self, value=None):\n    # the shared helper\n    return os.fspath(value)\n"

# Counts dialogs and CSP violations from the first script of every page on.
INSTRUMENT = """
window.__dialogs = 0;
for (const k of ["alert", "confirm", "prompt"]) window[k] = function () { window.__dialogs++; };
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(e.violatedDirective + " " + e.blockedURI));
"""


@pytest.fixture(scope="module")
def server(binary, tmp_path_factory):
    base = tmp_path_factory.mktemp("serve")
    archives = base / "in"
    archives.mkdir()
    for name, version in [("alpha", "1.0"), ("alpha", "2.0"), ("beta", "1.0")]:
        top = "%s-%s" % (name, version)
        extra = [("file", top + "/%s/shared.py" % name, SHARED)]
        if name == "beta":
            extra += [("file", top + "/beta/" + f, data) for f, data in HOSTILE.items()]
        (archives / (top + ".tar.gz")).write_bytes(_tar(sdist(name, version, extra)))
    r = Runner(binary, str(base / "corpus"))
    r.run("init")
    r.run("add", str(archives), "--uploaded-on", "2024-01-02")
    r.run("seal")
    r.run("analyze")
    p = subprocess.Popen([binary, "--corpus", r.corpus, "serve", "--bind", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = p.stdout.readline().strip().rstrip("/")
    assert url.startswith("http://127.0.0.1:"), url
    yield url
    p.terminate()
    p.wait(timeout=10)


def chrome(tmp_path, js=True):
    if not shutil.which("chromedriver"):
        pytest.fail("chromedriver not found: scripts/test.sh installs Debian's chromium-driver")
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium look for drivers online
    o = Options()
    o.binary_location = shutil.which("chromium")
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--window-size=1280,900", "--user-data-dir=%s" % (tmp_path / ("profile-js" if js else "profile-nojs"))]:
        o.add_argument(a)
    if not js:
        o.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=o)
    if js:
        d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": INSTRUMENT})
    return d


def wait(d, cond, timeout=20):
    return WebDriverWait(d, timeout).until(lambda _: cond())


def shot(d, tmp_path, name, colour=None):
    """A screenshot with content: many colours (text, not a blank page), and `colour` in it."""
    path = tmp_path / (name + ".png")
    d.save_screenshot(str(path))
    colours = png_colours(path)
    assert len(colours) > 20, "%s: a blank screenshot" % name
    if colour:
        assert colour in colours, "%s: no %s in the screenshot" % (name, colour)
    keep = os.environ.get("PYCORPUS_KEEP_SCREENSHOTS")
    if keep:
        shutil.copy(path, os.path.join(keep, name + ".png"))
    return path


def nothing_ran(d):
    """No dialog, no CSP violation, no console error, no script or handler from the corpus."""
    assert d.execute_script("return window.__dialogs") == 0
    assert d.execute_script("return window.__violations") == []
    scripts = d.execute_script("return [...document.scripts].map(s => s.getAttribute('src'))")
    assert scripts == ["/static/app.js"], scripts
    handlers = d.execute_script("return [...document.querySelectorAll('*')].flatMap(e => [...e.attributes].map(a => a.name)).filter(n => n.startsWith('on'))")
    assert handlers == [], handlers
    assert d.execute_script("return document.querySelectorAll('main img:not(figure img), textarea').length") == 0
    errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors


def test_search_click_through_and_browse_with_javascript(server, tmp_path):
    d = chrome(tmp_path)
    try:
        d.get(server + "/search")
        # every fragment appended to the results, as it arrives
        d.execute_script("window.__added = 0; new MutationObserver((m) => window.__added += m.length).observe(document.getElementById('results'), {childList: true});")
        d.find_element(By.ID, "q").send_keys("frobnicate")
        wait(d, lambda: d.find_elements(By.ID, "summary"))
        blobs = d.find_elements(By.CSS_SELECTOR, "section.blob")
        assert len(blobs) == 1, "one unique blob, whatever the number of files"
        assert d.execute_script("return window.__added") >= 2, "the blob and the summary came as separate fragments"
        assert "q=frobnicate" in d.current_url, "the URL holds the query"
        assert d.find_element(By.CSS_SELECTOR, "section.blob mark").text == "frobnicate"
        assert "2 other files" in d.find_element(By.CSS_SELECTOR, "details.others summary").text
        shot(d, tmp_path, "search", HIT)
        nothing_ran(d)

        # a click on the matching line: the file, scrolled to that line, highlighted
        path = d.find_element(By.CSS_SELECTOR, "section.blob .path").text
        d.find_element(By.CSS_SELECTOR, "tr.hit td.n a").click()
        wait(d, lambda: "/blob/" in d.current_url)
        assert d.current_url.endswith("#L4"), d.current_url
        assert d.find_element(By.ID, "file").text.endswith(path)
        line = d.find_element(By.ID, "L4")
        assert "def frobnicate" in line.text
        assert d.execute_script("return getComputedStyle(arguments[0]).backgroundColor", line) == "rgb(255, 243, 176)"
        assert d.find_elements(By.CSS_SELECTOR, "#L4 .hl-keyword, #L4 .hl-storage"), "Python is highlighted"
        shot(d, tmp_path, "file", HIT)
        nothing_ran(d)

        # back to the results; "+2 other files" lists the releases, one click to a release
        d.back()
        wait(d, lambda: d.find_elements(By.CSS_SELECTOR, "details.others summary"))
        d.find_element(By.CSS_SELECTOR, "details.others summary").click()
        links = wait(d, lambda: d.find_elements(By.CSS_SELECTOR, "details.others li a"))
        assert len(links) == 3, [a.text for a in links]
        target = [a for a in links if a.text == "alpha 2.0"][0]
        target.click()
        wait(d, lambda: d.find_elements(By.ID, "release"))
        assert d.find_element(By.ID, "release").text == "alpha-2.0.tar.gz"
        assert "shared.py" in d.find_element(By.CSS_SELECTOR, "table.tree").text
        nothing_ran(d)

        # the project page, then the statistics
        d.find_element(By.CSS_SELECTOR, ".crumbs a").click()
        wait(d, lambda: d.find_elements(By.ID, "project"))
        assert d.find_element(By.ID, "project").text == "alpha"
        assert len(d.find_elements(By.CSS_SELECTOR, "table.releases tbody tr")) == 2
        shot(d, tmp_path, "project")
        d.find_element(By.LINK_TEXT, "Statistics").click()
        wait(d, lambda: d.find_elements(By.ID, "stats"))
        imgs = d.find_elements(By.CSS_SELECTOR, "figure.chart img")
        assert len(imgs) > 5
        wait(d, lambda: all(d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", i) for i in imgs))
        assert "Projects" in d.find_element(By.CSS_SELECTOR, "dl.figures").text
        shot(d, tmp_path, "stats")
        nothing_ran(d)
    finally:
        d.quit()


def test_hostile_files_run_nothing(server, tmp_path):
    d = chrome(tmp_path)
    try:
        d.get(server + "/search?q=xss-&fixed=1")
        wait(d, lambda: d.find_elements(By.ID, "summary"))
        text = d.find_element(By.ID, "results").text
        for shown in ["<script>alert('xss-script')</script>", "\"><img src=x onerror=alert(1)>", "</textarea><script>alert(2)</script>", "\ufffdt\ufffd", "alert(3)</script>'  # xss-longline"]:
            assert shown in text, (shown, text)
        nothing_ran(d)
        # as the script renders them too (a new query typed, as a regex)
        d.execute_script("document.getElementById('results').replaceChildren()")
        d.find_element(By.NAME, "fixed").click()
        assert not d.find_element(By.NAME, "fixed").is_selected()
        q = d.find_element(By.ID, "q")
        q.clear()
        q.send_keys("onerror|textarea|script")
        wait(d, lambda: d.find_elements(By.ID, "summary"))
        assert "onerror" in d.find_element(By.ID, "results").text
        nothing_ran(d)
        oids = [s.get_attribute("data-oid") for s in d.find_elements(By.CSS_SELECTOR, "section.blob")]
        assert len(oids) >= 4
        for oid in oids:
            d.get(server + "/blob/" + oid)
            wait(d, lambda: d.find_elements(By.ID, "L1"))
            nothing_ran(d)
        # the 5 MiB line's file: its first 2 MiB, as text
        d.get(server + "/search?q=xss-longline&fixed=1")
        wait(d, lambda: d.find_elements(By.ID, "summary"))
        d.find_element(By.CSS_SELECTOR, "tr.hit td.n a").click()
        wait(d, lambda: d.find_elements(By.ID, "L6"))
        assert "Only the first 2 MiB" in d.find_element(By.TAG_NAME, "main").text
        assert d.find_element(By.CSS_SELECTOR, "#L6 .code").text.startswith("x = '<script>alert(3)</script>")
        nothing_ran(d)
    finally:
        d.quit()


def test_browse_and_file_pages_without_javascript(server, tmp_path):
    d = chrome(tmp_path, js=False)
    try:
        d.get(server + "/search?q=frobnicate")
        # the results came in the page itself, streamed by the server
        assert len(d.find_elements(By.CSS_SELECTOR, "section.blob")) == 1
        assert "1 matching line" in d.find_element(By.ID, "summary").text
        shot(d, tmp_path, "search-nojs", HIT)
        d.find_element(By.CSS_SELECTOR, "tr.hit td.n a").click()
        assert d.current_url.endswith("#L4")
        shot(d, tmp_path, "file-nojs", HIT)
        assert "def frobnicate" in d.find_element(By.ID, "L4").text
        # "+N" without the script: the list of every file on the file's page
        d.back()
        d.find_element(By.CSS_SELECTOR, "details.others summary").click()
        d.find_element(By.LINK_TEXT, "Every file holding it").click()
        rows = d.find_elements(By.CSS_SELECTOR, "table.holders tbody tr")
        assert len(rows) == 3
        rows[0].find_elements(By.TAG_NAME, "a")[1].click()
        assert d.find_element(By.ID, "release").text.endswith(".tar.gz")
        d.find_element(By.CSS_SELECTOR, ".crumbs a").click()
        assert d.find_element(By.ID, "project").text in ("alpha", "beta")
        d.get(server + "/stats")
        assert len(d.find_elements(By.CSS_SELECTOR, "figure.chart img")) > 5
        shot(d, tmp_path, "stats-nojs")
        # a bad request is a page with its message
        d.get(server + "/project/no-such-project")
        assert "no project" in d.find_element(By.ID, "error").text
    finally:
        d.quit()
