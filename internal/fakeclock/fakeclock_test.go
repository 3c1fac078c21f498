package fakeclock

import (
	"testing"
	"time"
)

func TestTimersFireOnlyWhenDue(t *testing.T) {
	c := New(time.Unix(0, 0))
	var fired []string
	c.AfterFunc(2*time.Second, func() { fired = append(fired, "b") })
	c.AfterFunc(time.Second, func() { fired = append(fired, "a") })
	stop := c.AfterFunc(time.Second, func() { fired = append(fired, "stopped") })
	if !stop() || stop() {
		t.Fatal("stop must report true once, then false")
	}
	after := c.After(3 * time.Second)
	if c.Pending() != 3 {
		t.Fatalf("pending %d, want 3", c.Pending())
	}
	c.Advance(999 * time.Millisecond)
	if len(fired) != 0 {
		t.Fatalf("fired early: %v", fired)
	}
	c.Advance(time.Millisecond)
	c.Advance(time.Second)
	if len(fired) != 2 || fired[0] != "a" || fired[1] != "b" {
		t.Fatalf("fired %v, want [a b]", fired)
	}
	select {
	case <-after:
		t.Fatal("After fired early")
	default:
	}
	c.Advance(time.Second)
	if got := <-after; !got.Equal(time.Unix(3, 0)) {
		t.Fatalf("After sent %v", got)
	}
}
