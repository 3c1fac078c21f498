package amf0

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// cases feeds the decoder test, the encoder test and the fuzz seeds.
var cases = []struct {
	name string
	v    any
	wire []byte
}{
	{"number", 1.5, []byte{0x00, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0}},
	{"true", true, []byte{0x01, 0x01}},
	{"false", false, []byte{0x01, 0x00}},
	{"string", "live", []byte{0x02, 0, 4, 'l', 'i', 'v', 'e'}},
	{"empty string", "", []byte{0x02, 0, 0}},
	{"null", nil, []byte{0x05}},
	{"undefined", Undefined{}, []byte{0x06}},
	{"object", Object{{"app", "live"}, {"n", 2.0}}, []byte{
		0x03, 0, 3, 'a', 'p', 'p', 0x02, 0, 4, 'l', 'i', 'v', 'e',
		0, 1, 'n', 0x00, 0x40, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0x09}},
	{"empty object", Object(nil), []byte{0x03, 0, 0, 0x09}},
	{"ecma array", ECMAArray{{"duration", 0.0}}, []byte{
		0x08, 0, 0, 0, 1, 0, 8, 'd', 'u', 'r', 'a', 't', 'i', 'o', 'n', 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0x09}},
	{"strict array", []any{1.0, "a", nil}, []byte{
		0x0a, 0, 0, 0, 3, 0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x02, 0, 1, 'a', 0x05}},
	{"date", time.UnixMilli(1700000000123).UTC(), []byte{
		0x0b, 0x42, 0x78, 0xbc, 0xfe, 0x56, 0x87, 0xb0, 0x00, 0, 0}},
	{"nested", Object{{"o", Object{{"a", []any{ECMAArray{{"b", false}}}}}}}, []byte{
		0x03, 0, 1, 'o', 0x03, 0, 1, 'a', 0x0a, 0, 0, 0, 1, 0x08, 0, 0, 0, 1, 0, 1, 'b', 0x01, 0, 0, 0, 9, 0, 0, 9, 0, 0, 9}},
}

func TestDecode(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, n, err := Decode(c.wire)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(c.wire) {
				t.Fatalf("used %d of %d bytes", n, len(c.wire))
			}
			if !reflect.DeepEqual(v, c.v) {
				t.Fatalf("got %#v, want %#v", v, c.v)
			}
		})
	}
}

func TestEncode(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := Encode(c.v)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, c.wire) {
				t.Fatalf("got % x\nwant % x", b, c.wire)
			}
		})
	}
}

func TestLongString(t *testing.T) {
	s := strings.Repeat("x", 70000)
	b, err := Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != markerLongString {
		t.Fatalf("marker 0x%02x", b[0])
	}
	v, _, err := Decode(b)
	if err != nil || v != s {
		t.Fatalf("round trip failed: %v", err)
	}
}

func TestReference(t *testing.T) {
	// [obj{a:1}, ref 0]
	wire := []byte{0x03, 0, 1, 'a', 0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0x07, 0, 0}
	vs, err := DecodeAll(wire)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || !reflect.DeepEqual(vs[0], vs[1]) {
		t.Fatalf("got %#v", vs)
	}
	if _, err := DecodeAll([]byte{0x07, 0, 1}); !errors.Is(err, ErrReference) {
		t.Fatalf("dangling reference: %v", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	deep := bytes.Repeat([]byte{0x0a, 0, 0, 0, 1}, MaxDepth+2)
	for _, c := range []struct {
		name string
		wire []byte
		err  error
	}{
		{"empty", nil, ErrShort},
		{"short number", []byte{0x00, 1, 2}, ErrShort},
		{"short string", []byte{0x02, 0, 5, 'a'}, ErrShort},
		{"huge long string", []byte{0x0c, 0xff, 0xff, 0xff, 0xff, 'a'}, ErrShort},
		{"huge strict array", []byte{0x0a, 0xff, 0xff, 0xff, 0xff}, ErrShort},
		{"unterminated object", []byte{0x03, 0, 1, 'a', 0x05}, ErrShort},
		{"bare object end", []byte{0x09}, ErrObjectEnd},
		{"amf3 switch", []byte{0x11}, ErrMarker},
		{"too deep", deep, ErrDepth},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, _, err := Decode(c.wire); !errors.Is(err, c.err) {
				t.Fatalf("got %v, want %v", err, c.err)
			}
		})
	}
}

func TestObjectAccessors(t *testing.T) {
	o := Object{{"app", "live"}, {"n", 3.0}}
	if o.String("app") != "live" || o.String("n") != "" {
		t.Fatal("String")
	}
	if n, ok := o.Number("n"); !ok || n != 3 {
		t.Fatal("Number")
	}
	if _, ok := Properties(ECMAArray(o)); !ok {
		t.Fatal("Properties")
	}
}

func FuzzAMF0Decode(f *testing.F) {
	for _, c := range cases {
		f.Add(c.wire)
	}
	f.Add([]byte{0x03, 0, 1, 'a', 0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0x07, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		vs, err := DecodeAll(b)
		if err != nil {
			return
		}
		// Whatever decodes must encode, and decode again to the same values.
		enc, err := Encode(vs...)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		vs2, err := DecodeAll(enc)
		if err != nil {
			t.Fatalf("decode re-encoded: %v", err)
		}
		if len(vs2) != len(vs) {
			t.Fatalf("%d values, then %d", len(vs), len(vs2))
		}
	})
}
