package interact

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// commandCases feed the decoder test and the fuzz seeds.
var commandCases = []struct {
	name string
	in   string
	err  error // nil: valid
}{
	{"chat", `{"type":"chat.send","text":"hello","key":"k1","mediaTime":12.5}`, nil},
	{"vote", `{"type":"poll.vote","id":"p3","choices":[0,2],"mediaTime":1}`, nil},
	{"poll", `{"type":"poll.create","poll":{"question":"Q?","options":["a","b"],"multiple":true,"maxChoices":2,"changeable":true,"results":"close","duration":30,"open":true}}`, nil},
	{"timeout", `{"type":"mod.timeout","viewer":"v1","seconds":60}`, nil},
	{"react", `{"type":"react","emoji":"🔥","count":3}`, nil},
	{"unpin", `{"type":"chat.unpin"}`, nil},
	{"slow off", `{"type":"chat.slow"}`, nil},
	{"ask", `{"type":"qa.ask","text":"why?"}`, nil},
	{"chat sync on", `{"type":"chat.sync","enabled":true}`, nil},
	{"chat sync off", `{"type":"chat.sync","enabled":false}`, nil},
	{"chat sync without enabled", `{"type":"chat.sync"}`, ErrBadRequest},
	{"enabled on chat", `{"type":"chat.send","text":"x","enabled":true}`, ErrBadRequest},
	{"no type", `{"text":"x"}`, ErrBadRequest},
	{"unknown type", `{"type":"nope"}`, ErrBadRequest},
	{"unknown field", `{"type":"chat.send","text":"x","admin":true}`, ErrBadRequest},
	{"foreign field", `{"type":"chat.send","text":"x","choices":[1]}`, ErrBadRequest},
	{"empty text", `{"type":"chat.send","text":"  "}`, ErrBadRequest},
	{"control chars", `{"type":"chat.send","text":"a\u0000b"}`, ErrBadRequest},
	{"too long", `{"type":"qa.ask","text":"` + strings.Repeat("x", MaxQuestionLen+1) + `"}`, ErrTooLong},
	{"negative media time", `{"type":"chat.send","text":"x","mediaTime":-1}`, ErrBadRequest},
	{"duplicate choice", `{"type":"poll.vote","id":"p","choices":[1,1]}`, ErrBadRequest},
	{"choice out of range", `{"type":"poll.vote","id":"p","choices":[10]}`, ErrBadRequest},
	{"no choices", `{"type":"poll.vote","id":"p","choices":[]}`, ErrBadRequest},
	{"one option", `{"type":"poll.create","poll":{"question":"Q","options":["a"]}}`, ErrBadRequest},
	{"single with maxChoices", `{"type":"poll.create","poll":{"question":"Q","options":["a","b"],"maxChoices":2}}`, ErrBadRequest},
	{"timeout without seconds", `{"type":"mod.timeout","viewer":"v"}`, ErrBadRequest},
	{"key with space", `{"type":"chat.unpin","key":"a b"}`, ErrBadRequest},
	{"trailing", `{"type":"chat.unpin"} {}`, ErrBadRequest},
	{"not json", `chat`, ErrBadRequest},
	{"react count", `{"type":"react","emoji":"x","count":11}`, ErrBadRequest},
}

func TestDecodeCommand(t *testing.T) {
	for _, tc := range commandCases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := DecodeCommand([]byte(tc.in))
			if tc.err == nil {
				if err != nil {
					t.Fatal(err)
				}
				// Round trip: what we encode decodes to the same command.
				b, err := json.Marshal(c)
				if err != nil {
					t.Fatal(err)
				}
				c2, err := DecodeCommand(b)
				if err != nil || !reflect.DeepEqual(c, c2) {
					t.Fatalf("round trip: %+v -> %s -> %+v (%v)", c, b, c2, err)
				}
				return
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
		})
	}
}

func FuzzDecodeCommand(f *testing.F) {
	for _, tc := range commandCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code == "" {
				t.Fatalf("error without a code: %v", err)
			}
			return
		}
		// A command that decodes validates, survives a round trip, and
		// applies to a state without panicking.
		if err := c.Validate(); err != nil {
			t.Fatalf("decoded command does not validate: %v", err)
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := DecodeCommand(out)
		if err != nil || !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip: %+v -> %s -> %+v (%v)", c, out, c2, err)
		}
		s := newState(limits{History: 5, MaxPolls: 3, MaxQuestions: 3, KeysPerActor: 4, MaxActors: 4, MaxKeys: 8})
		poll := Event{Cmd: Command{Type: CmdPollCreate, Poll: &PollSpec{Question: "q", Options: []string{"a", "b", "c"}, Open: true}}, Actor: host}
		s.apply(1, 0, true, &poll)
		for _, a := range []Actor{viewer(1), host} {
			ev := Event{Cmd: c, Actor: a, Key: a.ID + "/" + c.Key}
			s.apply(s.seq+1, 0, StaffOnly(c.Type), &ev)
		}
		s.snapshot(poll.At, true)
		s.dirtyOuts()
	})
}
