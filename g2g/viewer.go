package g2g

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/liveloop/liveloop/internal/chromium"
)

//go:embed viewer.js
var viewerJS string

// pageResult is what viewer.js reports for one page.
type pageResult struct {
	FirstFrame   *float64           `json:"firstFrame"`
	FirstDecoded *float64           `json:"firstDecoded"`
	Frames       int                `json:"frames"`
	Undecoded    int                `json:"undecoded"`
	WrongSize    int                `json:"wrongSize"`
	LastUnread   map[string]any     `json:"lastUnread"`
	Skew         []float64          `json:"skew"`
	Marks        map[string]float64 `json:"marks"`
	StallsAt     []float64          `json:"stallsAt"`
	Samples      [][3]float64       `json:"samples"` // shown (ms since navigation start), g2g (ms), seq
	Player       map[string]any     `json:"player"`
	TimedOut     bool               `json:"timedOut"`
}

// viewerScript returns viewer.js bound to the picture size and layout.
func viewerScript(w, h int, l Layout) string {
	cfg, _ := json.Marshal(map[string]any{
		"width": w, "height": h, "bits": PayloadBits,
		"layout": map[string]int{"x": l.X, "y": l.Y, "block": l.Block, "cols": l.Cols},
	})
	return viewerJS + "(" + string(cfg) + ");"
}

// watch opens url in a fresh tab of the browser, with viewer.js installed
// before the page's own scripts, and collects duration of stamped frames
// (counted from the first one decoded), giving up after timeout.
func watch(browser context.Context, url, script string, duration, timeout time.Duration) (*pageResult, error) {
	tab, closeTab, err := chromium.NewTab(browser, true)
	if err != nil {
		return nil, err
	}
	defer closeTab()
	err = chromedp.Do(tab,
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: script})
			return err
		}),
		chromedp.Navigate(url),
	)
	if err != nil {
		return nil, fmt.Errorf("g2g: open %s: %w", url, err)
	}
	ctx, cancel := context.WithTimeout(tab, timeout+5*time.Second)
	defer cancel()
	res, err := chromium.Eval[pageResult](ctx, fmt.Sprintf("window.__g2g.collect(%d, %d)", duration.Milliseconds(), timeout.Milliseconds()))
	if err != nil {
		return nil, fmt.Errorf("g2g: collecting from %s: %w", url, err)
	}
	return &res, nil
}
