// Package chromium starts headless Chromium for Liveloop's tests and tools
// (the browser end-to-end tests, liveloop-g2g), with the one set of launch
// flags that works on these machines: as root, without a GPU, on a closed
// network, with autoplay allowed.
//
// Life cycle: New starts a browser and returns a context for its first tab;
// NewTab opens more tabs (optionally each in a fresh browser context, like a
// first visit); Eval runs JavaScript in a tab, and FramesShown and Plays
// check a page's video with it. FakeMedia gives the flags of a page that
// captures a camera and microphone. The cancel func that New
// returns closes the browser, waits for its process to exit and removes the
// profile directory if New made it. A browser is also killed if the program
// that started it dies (chromedp sets a parent-death signal on Linux).
package chromium

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/chromedp/chromedp"
)

// ErrNotFound means the Chromium executable is not installed (or not at
// Options.ExecPath).
var ErrNotFound = errors.New("chromium: executable not found")

// Options configures New. The zero value is ready to use.
type Options struct {
	// ExecPath is the Chromium executable, a path or a name looked up in
	// PATH. Default "chromium" (Debian's package).
	ExecPath string
	// UserDataDir is the profile directory. Default: a fresh temporary
	// directory, removed when the browser is closed.
	UserDataDir string
	// ExtraFlags are added to the default flags (see Flags), or override
	// them: a name with the value false removes a default flag. Values are
	// true (a bare --name) or strings (--name=value).
	ExtraFlags map[string]any
	// WindowWidth and WindowHeight size the window, pixels. Default 1280x800.
	WindowWidth, WindowHeight int
	// Logf receives the browser's log messages and errors. Default: discard.
	Logf func(format string, args ...any)
}

// Flags returns the default command-line flags (without the leading --):
// headless, no sandbox (root), no GPU, no QUIC, no first-run, background
// networking, component updates or sync (a closed network), autoplay without
// a user gesture, and /tmp instead of a small /dev/shm.
func Flags() map[string]any {
	return map[string]any{
		"headless":                      true,
		"no-sandbox":                    true,
		"disable-gpu":                   true,
		"disable-quic":                  true,
		"no-first-run":                  true,
		"disable-background-networking": true,
		"disable-component-update":      true,
		"disable-sync":                  true,
		"autoplay-policy":               "no-user-gesture-required",
		"disable-dev-shm-usage":         true,
	}
}

// New starts a headless Chromium and returns a context for its first tab,
// ready for chromedp actions (and Eval), and a cancel func that closes the
// browser and waits for it. The browser lives until cancel is called or ctx
// ends; do not put a short timeout on ctx (it would end the browser), but
// derive timeouts for single actions from the tab context instead.
func New(ctx context.Context, opts Options) (tab context.Context, cancel context.CancelFunc, err error) {
	execPath := opts.ExecPath
	if execPath == "" {
		execPath = "chromium"
	}
	path, err := exec.LookPath(execPath)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	w, h := opts.WindowWidth, opts.WindowHeight
	if w <= 0 || h <= 0 {
		w, h = 1280, 800
	}
	flags := Flags()
	for k, v := range opts.ExtraFlags {
		flags[k] = v
	}
	allocOpts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(path), chromedp.WindowSize(w, h)}
	if opts.UserDataDir != "" {
		allocOpts = append(allocOpts, chromedp.UserDataDir(opts.UserDataDir))
	}
	for k, v := range flags {
		allocOpts = append(allocOpts, chromedp.Flag(k, v))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, allocOpts...)
	var ctxOpts []chromedp.ContextOption
	if opts.Logf != nil {
		ctxOpts = append(ctxOpts, chromedp.WithLogf(opts.Logf), chromedp.WithErrorf(opts.Logf))
	}
	bctx, cancelBrowser := chromedp.NewContext(actx, ctxOpts...)
	cancel = func() {
		cancelBrowser()
		cancelAlloc()
	}
	// The first action starts the browser and opens its first tab.
	if err := chromedp.Do(bctx); err != nil {
		cancel()
		return nil, nil, fmt.Errorf("chromium: start: %w", err)
	}
	return bctx, cancel, nil
}

// NewTab opens another tab in the browser of ctx (a context from New or
// NewTab). With fresh, the tab gets a browser context of its own (no
// cookies, cache or storage shared with other tabs, like a first visit).
// cancel closes the tab.
func NewTab(ctx context.Context, fresh bool) (tab context.Context, cancel context.CancelFunc, err error) {
	var o []chromedp.ContextOption
	if fresh {
		o = append(o, chromedp.WithNewBrowserContext())
	}
	tab, cancel = chromedp.NewContext(ctx, o...)
	if err := chromedp.Do(tab); err != nil {
		cancel()
		return nil, nil, fmt.Errorf("chromium: new tab: %w", err)
	}
	return tab, cancel, nil
}

// Eval evaluates the JavaScript expression js in the tab, awaits its value
// if it is a promise, and decodes the value (as JSON) into a T. A thrown
// exception or a rejected promise is an error.
func Eval[T any](tab context.Context, js string) (T, error) {
	return chromedp.Run(tab, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
}

// FakeMedia returns ExtraFlags for a page that captures and publishes:
// Chromium's fake camera and microphone (a test pattern and a tone),
// granted without a prompt, and WebRTC to loopback addresses.
func FakeMedia() map[string]any {
	return map[string]any{
		"use-fake-device-for-media-stream":  true,
		"use-fake-ui-for-media-stream":      true,
		"allow-loopback-in-peer-connection": true,
	}
}

// FramesShown waits until the first video element of the tab's page has
// shown at least min frames (its totalVideoFrames), or for at most
// within, and returns how many it has shown.
func FramesShown(tab context.Context, min int, within time.Duration) (int, error) {
	return Eval[int](tab, fmt.Sprintf(`(async (min, within) => {
  const frames = () => { const v = document.querySelector('video'); return v ? v.getVideoPlaybackQuality().totalVideoFrames : 0; };
  const deadline = performance.now() + within;
  while (frames() < min && performance.now() < deadline) await new Promise(r => setTimeout(r, 50));
  return frames();
})(%d, %d)`, min, within.Milliseconds()))
}

// Plays checks that the tab's video plays: it has shown n frames within
// the given time, then n more within it again. The error says where it
// stopped.
func Plays(tab context.Context, n int, within time.Duration) error {
	first, err := FramesShown(tab, n, within)
	if err != nil {
		return err
	}
	if first < n {
		return fmt.Errorf("chromium: %d frames shown in %v, want %d", first, within, n)
	}
	later, err := FramesShown(tab, first+n, within)
	if err != nil {
		return err
	}
	if later < first+n {
		return fmt.Errorf("chromium: frames stopped at %d (%d before)", later, first)
	}
	return nil
}
