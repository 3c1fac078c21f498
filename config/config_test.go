package config

import (
	"flag"
	"strings"
	"testing"
)

func TestDefaultsAreValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestFlagsAndValidationReportEveryProblem(t *testing.T) {
	c := Default()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"--http", "nope", "--rtmp", ":0", "--grace", "-1s", "--log-level", "loud"}); err != nil {
		t.Fatal(err)
	}
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"--http", "--grace", "--log-level"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "--rtmp") {
		t.Errorf("valid --rtmp reported: %v", err)
	}
}

func TestWebRTCTCP(t *testing.T) {
	for _, tc := range []struct {
		value string
		ok    bool
	}{
		{"http", true},
		{"off", true},
		{"0.0.0.0:8443", true},
		{"127.0.0.1:0", true},
		{"", false},
		{"on", false},
		{"8443", false},
	} {
		t.Run(tc.value, func(t *testing.T) {
			c := Default()
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			c.RegisterFlags(fs)
			if err := fs.Parse([]string{"--webrtc-tcp", tc.value}); err != nil {
				t.Fatal(err)
			}
			err := c.Validate()
			if (err == nil) != tc.ok {
				t.Errorf("Validate: %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "--webrtc-tcp") {
				t.Errorf("error %q does not mention --webrtc-tcp", err)
			}
		})
	}
	if c := Default(); c.WebRTCTCP != WebRTCTCPHTTP {
		t.Errorf("default --webrtc-tcp %q, want %q", c.WebRTCTCP, WebRTCTCPHTTP)
	}
}
