package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/mlgate/mlgate/internal/fakemlflow"
	"github.com/mlgate/mlgate/internal/testutil"
)

// chromiumPath returns the Chromium the browser tests drive:
// $MLGATE_CHROMIUM, else chromium or chromium-browser on $PATH. A machine
// without one fails the test (make test installs Debian's chromium): the
// status page is not tested otherwise.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MLGATE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium on $PATH (nor $MLGATE_CHROMIUM): the status page's browser test needs one; `make test` installs Debian's chromium (scripts/install-chromium.sh)")
	return ""
}

// testOutput is where a test leaves files worth keeping (screenshots):
// $MLGATE_TEST_OUTPUT when set, else a directory removed after the test.
func testOutput(t *testing.T) string {
	if d := os.Getenv("MLGATE_TEST_OUTPUT"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// browser is a headless Chromium with a fresh profile, recording what the
// page logs and every request it makes.
type browser struct {
	ctx context.Context

	mu       sync.Mutex
	requests []string
	problems []string // console errors, exceptions, error log entries
}

func startBrowser(t *testing.T) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(1280, 800),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &browser{}
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithListener(b.observe))
	b.ctx = ctx
	t.Cleanup(func() {
		if err := chromedp.Cancel(ctx); err != nil {
			t.Logf("closing chromium: %v", err)
		}
		cancel()
		cancelAlloc()
	})
	return b
}

// observe runs on chromedp's reading goroutine: it only records.
func (b *browser) observe(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		b.requests = append(b.requests, ev.Request.URL)
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value))
			}
			b.problems = append(b.problems, fmt.Sprintf("console.%s %s", ev.Type, strings.Join(args, " ")))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		desc := d.Text
		if d.Exception != nil {
			desc += " " + d.Exception.Description
		}
		b.problems = append(b.problems, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber+1, desc))
	case *log.EventEntryAdded:
		if ev.Entry.Level == log.EntryLevelError || ev.Entry.Level == log.EntryLevelWarning {
			b.problems = append(b.problems, fmt.Sprintf("log %s: %s %s", ev.Entry.Level, ev.Entry.Text, ev.Entry.URL))
		}
	}
}

// waitDOM polls expr (a JavaScript expression) in the page until it is
// true. The page's own polling decides when it turns true; the timeout
// only bounds a page that never shows it.
func (b *browser) waitDOM(t *testing.T, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("the page never showed %s (%s): %v\npage text:\n%s", what, expr, err, text)
	}
}

func (b *browser) eval(t *testing.T, expr string) string {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// screenshot saves the page as it shows at width×height (a phone when
// mobile) to dir/name.
func (b *browser) screenshot(t *testing.T, dir, name string, width, height int64, mobile bool) {
	t.Helper()
	var opts []chromedp.EmulateViewportOption
	if mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateScale(2))
	}
	if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(width, height, opts...)); err != nil {
		t.Fatal(err)
	}
	// The page lays itself out again at the new width; wait for a frame.
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](
		`new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(() => ok("drawn"))))`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%dx%d)", path, width, height)
}

// fullScreenshot saves the whole page, width pixels wide, to dir/name.
func (b *browser) fullScreenshot(t *testing.T, dir, name string, width int64) {
	t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(width, 800)); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (the whole page, %d wide)", path, width)
}

// exampleConfig is make run's configuration (examples/mlgate.yaml) with the
// fake MLflow as its registry.
func exampleConfig(t *testing.T, trackingURI string) Config {
	t.Helper()
	cfg, err := loadConfig("serve", serveSettings, []string{"--config", testutil.Path(t, "examples", "mlgate.yaml")},
		func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	test := testConfig(t, trackingURI, cfg.Routes...)
	return test
}

// send posts body to url n times, each with the headers header(i) gives.
func send(t *testing.T, url string, n int, body func(i int) string, header func(i int) (string, string)) {
	t.Helper()
	client := loadClient(1)
	defer client.CloseIdleConnections()
	for i := range n {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body(i)))
		req.Header.Set("Content-Type", "application/json")
		if header != nil {
			k, v := header(i)
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// pct formats a share as the page does (JavaScript's toFixed(1)).
func pct(x float64) string { return fmt.Sprintf("%.1f%%", x*100) }

// TestStatusPageInBrowser loads /status in headless Chromium against mlgate
// serving make run's routes (a champion, a 90/10 canary, a shadow), sends
// traffic, moves champion to version 2, and reads from the page itself: the
// split, the shadow's disagreement, the new version and the swap in the
// timeline. The page must log no error, request nothing from any host but
// mlgate, be usable with the keyboard, and fit a phone's width. Screenshots
// at 1280×800 and 390×844 go to $MLGATE_TEST_OUTPUT (make screenshot) or a
// temporary directory.
func TestStatusPageInBrowser(t *testing.T) {
	fake := fakemlflow.New(t)
	mg := startApp(t, exampleConfig(t, fake.URL()))
	waitFor(t, "the shadow model to load", func() bool { return adminModels(t, mg.adminURL).Routes[2].Shadow.Serving != nil })
	b := startBrowser(t)
	page := mg.adminURL + "/status"
	if err := chromedp.Do(b.ctx, chromedp.Navigate(page)); err != nil {
		t.Fatal(err)
	}
	champion := `[data-route="churn"] tr[data-target="champion"]`
	b.waitDOM(t, "champion serving version 1", `document.querySelector('`+champion+` .version')?.textContent.startsWith("v1")`)

	row := func(int) string { return oneRow }
	send(t, mg.url+"/routes/churn-canary/invocations", 200, row, func(i int) (string, string) { return "X-User-Id", fmt.Sprintf("user-%d", i) })
	send(t, mg.url+"/invocations", 30, row, nil)
	rows := shadowRows(80)
	send(t, mg.url+"/routes/gbm/invocations", 20, func(i int) string { return namedInputs(rows[4*i : 4*i+4]) }, nil)
	waitFor(t, "the shadow comparisons", func() bool { return adminModels(t, mg.adminURL).Routes[2].Shadow.Compared == 20 })

	// What the feed says, the page must show.
	_, feed := statusFeed(t, mg.adminURL, 0)
	canary := feed.Routes[1]
	for _, tg := range feed.Routes[0].Targets {
		if tg.Serving == nil {
			continue
		}
		want := tg.Serving.DataVersion
		if want == "" {
			want = "not logged"
		}
		sel := `[data-route="churn"] tr[data-target="` + tg.Alias + `"] .prov dd:nth-of-type(3)`
		b.waitDOM(t, "the data version of "+tg.Alias, `document.querySelector('`+sel+`')?.textContent.startsWith("`+want+`")`)
	}
	for _, tg := range canary.Targets {
		w := tg.AllVersions[0]
		sel := `[data-route="churn-canary"] tr[data-target="` + tg.Alias + `"] .observed`
		want := fmt.Sprintf("%s observed (%d)", pct(w.Share), w.Requests)
		b.waitDOM(t, "the observed split of "+tg.Alias, `document.querySelector('`+sel+`')?.textContent === "`+want+`"`)
	}
	if champ, chall := canary.Targets[0].Windows[0].Requests, canary.Targets[1].Windows[0].Requests; champ+chall != 200 || chall == 0 || champ < chall {
		t.Errorf("canary split %d/%d of 200; want both sides served, mostly champion", champ, chall)
	}
	label := feed.Routes[2].Shadow.Outputs["label"]
	b.waitDOM(t, "the shadow's label disagreement",
		`document.querySelector('[data-route="gbm"] [data-output="label"] .disagreement')?.textContent === "`+pct(label.DisagreementRate)+` disagree"`)
	b.waitDOM(t, "the |Δ| chart of the shadow's probability", `!!document.querySelector('[data-route="gbm"] [data-output="probability"] svg rect')`)
	if label.DisagreementRate == 0 {
		t.Errorf("v4 and v3 agree on every label; the shadow fixture should disagree")
	}

	fake.SetAlias("churn-gbm", "champion", "2")
	b.waitDOM(t, "champion serving version 2", `document.querySelector('`+champion+` .version')?.textContent.startsWith("v2")`)
	b.waitDOM(t, "the swap in the timeline", `[...document.querySelectorAll('#timeline li[data-kind="swap"]')].some((li) => li.textContent.includes("models:/churn-gbm@champion · v1 → v2"))`)
	b.waitDOM(t, "the alias move in the timeline", `!!document.querySelector('#timeline li[data-kind="alias_moved"]')`)
	b.waitDOM(t, "version 1's retirement in the timeline", `[...document.querySelectorAll('#timeline li[data-kind="retire"]')].some((li) => li.textContent.includes("v1"))`)
	send(t, mg.url+"/invocations", 10, row, nil) // champion v2 answers, for the screenshot
	b.waitDOM(t, "version 2's requests", `document.querySelector('`+champion+` .now')?.textContent === "10 by v2"`)

	// Keyboard: Tab reaches the window choice, a run's link and a commit's
	// Copy button, each showing where the focus is.
	b.eval(t, `document.activeElement.blur(), "ok"`)
	reached := map[string]bool{}
	for range 40 {
		if err := chromedp.Do(b.ctx, chromedp.KeyEvent("\t")); err != nil {
			t.Fatal(err)
		}
		focus := b.eval(t, `(() => { const e = document.activeElement; const s = getComputedStyle(e);
			return e.tagName + "." + (e.className || e.type || "") + (s.outlineStyle !== "none" && s.outlineWidth !== "0px" ? " outlined" : ""); })()`)
		reached[focus] = true
	}
	for _, want := range []string{"INPUT.radio outlined", "A. outlined", "BUTTON.copy outlined"} {
		if !reached[want] {
			t.Errorf("Tab never reached %q; reached %v", want, reached)
		}
	}

	// The observed split counts the requests of every version in the
	// window: champion's v1 requests still count after the move.
	_, feed = statusFeed(t, mg.adminURL, 0)
	for _, tg := range feed.Routes[1].Targets {
		w := tg.AllVersions[0]
		sel := `[data-route="churn-canary"] tr[data-target="` + tg.Alias + `"] .observed`
		want := fmt.Sprintf("%s observed (%d)", pct(w.Share), w.Requests)
		b.waitDOM(t, "the observed split of "+tg.Alias+" after the move", `document.querySelector('`+sel+`')?.textContent === "`+want+`"`)
	}
	b.waitDOM(t, "version 1 of champion, retired", `!!document.querySelector('[data-route="churn"] tr.retired[data-version="1"]')`)

	out := testOutput(t)
	b.eval(t, `document.activeElement.blur(), window.scrollTo(0, 0), "top"`)
	b.screenshot(t, out, "status-desktop.png", 1280, 800, false)
	b.screenshot(t, out, "status-phone.png", 390, 844, true)
	if over := b.eval(t, `String(document.documentElement.scrollWidth - window.innerWidth)`); over != "0" {
		t.Errorf("at 390 px the page is %s px wider than the screen", over)
	}
	if cut := b.eval(t, `[...document.querySelectorAll(".scroll")].filter((e) => e.scrollWidth > e.clientWidth).length + ""`); cut != "0" {
		t.Errorf("at 390 px %s table(s) are wider than their box and scroll sideways", cut)
	}
	b.fullScreenshot(t, out, "status-full.png", 1280)

	admin, err := url.Parse(mg.adminURL)
	if err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		t.Errorf("the page logged: %s", p)
	}
	if len(b.requests) == 0 {
		t.Error("no request was recorded")
	}
	for _, r := range b.requests {
		u, err := url.Parse(r)
		if err != nil || (u.Host != admin.Host && u.Scheme != "data") {
			t.Errorf("the page requested %s: only mlgate (%s) may be asked", r, admin.Host)
		}
	}
}
