package chromium_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/liveloop/liveloop/internal/chromium"
)

func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("chromium"); err != nil {
		t.Fatalf("chromium is required (CI installs it: see .ci/run): %v", err)
	}
}

// TestEval: a page is loaded in the first tab and in a fresh tab; Eval
// returns plain values, awaits promises, and reports exceptions and
// rejections as errors.
func TestEval(t *testing.T) {
	requireChromium(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<!doctype html><title>t</title><video></video><script>window.x = {a: 1, b: "two"};</script>`))
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tab, closeBrowser, err := chromium.New(ctx, chromium.Options{UserDataDir: t.TempDir(), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer closeBrowser()
	tab2, closeTab, err := chromium.NewTab(tab, true)
	if err != nil {
		t.Fatal(err)
	}
	defer closeTab()

	for name, tc := range map[string]context.Context{"first": tab, "fresh": tab2} {
		t.Run(name, func(t *testing.T) {
			if err := chromedp.Do(tc, chromedp.Navigate(srv.URL)); err != nil {
				t.Fatal(err)
			}
			type xv struct {
				A int    `json:"a"`
				B string `json:"b"`
			}
			got, err := chromium.Eval[xv](tc, "window.x")
			if err != nil || got != (xv{1, "two"}) {
				t.Errorf("window.x = %+v, %v", got, err)
			}
			n, err := chromium.Eval[float64](tc, "new Promise(r => setTimeout(() => r(42), 10))")
			if err != nil || n != 42 {
				t.Errorf("promise = %v, %v", n, err)
			}
			rvfc, err := chromium.Eval[bool](tc, "typeof document.querySelector('video').requestVideoFrameCallback === 'function'")
			if err != nil || !rvfc {
				t.Errorf("requestVideoFrameCallback: %v, %v", rvfc, err)
			}
			if _, err := chromium.Eval[float64](tc, "Promise.reject(new Error('no'))"); err == nil {
				t.Error("rejected promise: no error")
			}
			if _, err := chromium.Eval[float64](tc, "(() => { throw new Error('boom') })()"); err == nil {
				t.Error("exception: no error")
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	_, _, err := chromium.New(context.Background(), chromium.Options{ExecPath: "/nonexistent/chromium"})
	if !errors.Is(err, chromium.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}
