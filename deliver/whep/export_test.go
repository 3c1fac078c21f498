package whep

// HeldSSRCs counts the SSRCs the sessions of h hold.
var HeldSSRCs = heldSSRCs

// LiveWriters counts the live writers of h: the streams its viewers watch.
func LiveWriters(h *Handler) int {
	h.live.mu.Lock()
	defer h.live.mu.Unlock()
	return len(h.live.writers)
}

// LiveViewers counts the viewers the live writers of h serve.
func LiveViewers(h *Handler) int {
	h.live.mu.Lock()
	defer h.live.mu.Unlock()
	n := 0
	for _, lw := range h.live.writers {
		n += int(lw.served.Load())
	}
	return n
}
