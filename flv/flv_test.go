package flv

import (
	"bytes"
	"errors"
	"io"
	"os"
	"reflect"
	"testing"
	"testing/iotest"
)

// tagCases feeds TestReadTag, TestWriteTag and FuzzFLVTag.
var tagCases = []struct {
	name string
	tag  Tag
	wire []byte
}{
	{"video", Tag{Type: TagVideo, Timestamp: 0x123456, Body: []byte{0x17, 1, 0, 0, 0}},
		[]byte{9, 0, 0, 5, 0x12, 0x34, 0x56, 0, 0, 0, 0, 0x17, 1, 0, 0, 0, 0, 0, 0, 16}},
	{"extended timestamp", Tag{Type: TagAudio, Timestamp: 0xAB123456, Body: []byte{0xaf, 1}},
		[]byte{8, 0, 0, 2, 0x12, 0x34, 0x56, 0xAB, 0, 0, 0, 0xaf, 1, 0, 0, 0, 13}},
	{"empty script", Tag{Type: TagScript, Body: []byte{}},
		[]byte{18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11}},
}

func TestReadTag(t *testing.T) {
	for _, c := range tagCases {
		t.Run(c.name, func(t *testing.T) {
			// One byte at a time, as a slow network would deliver it.
			got, err := NewReader(iotest.OneByteReader(bytes.NewReader(c.wire))).ReadTag()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.tag) {
				t.Fatalf("got %+v, want %+v", got, c.tag)
			}
		})
	}
}

func TestWriteTag(t *testing.T) {
	for _, c := range tagCases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := NewWriter(&buf).WriteTag(c.tag); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), c.wire) {
				t.Fatalf("got % x\nwant % x", buf.Bytes(), c.wire)
			}
		})
	}
}

func TestReadTagErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		wire []byte
		err  error
	}{
		{"eof", nil, io.EOF},
		{"short header", []byte{9, 0, 0}, ErrShort},
		{"lying size", []byte{9, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3}, ErrShort},
		{"no previous tag size", []byte{9, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x17}, ErrShort},
		{"encrypted", []byte{0x29, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x17, 0, 0, 0, 12}, ErrUnsupported},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(c.wire)).ReadTag()
			if !errors.Is(err, c.err) {
				t.Fatalf("got %v, want %v", err, c.err)
			}
		})
	}
}

func TestHeader(t *testing.T) {
	h := Header{Version: 1, HasAudio: true, HasVideo: true}
	wire := h.Append(nil)
	want := []byte{'F', 'L', 'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0}
	if !bytes.Equal(wire, want) {
		t.Fatalf("got % x", wire)
	}
	r := bytes.NewReader(append(wire, 0xEE))
	got, err := ReadHeader(r)
	if err != nil || got != h {
		t.Fatalf("got %+v, %v", got, err)
	}
	if r.Len() != 1 {
		t.Fatalf("left %d bytes, want 1", r.Len())
	}
	if _, err := ReadHeader(bytes.NewReader([]byte("GIF89a\x00\x00\x00\x09"))); !errors.Is(err, ErrSignature) {
		t.Fatalf("signature: %v", err)
	}
}

// readFile reads testdata/testsrc.flv: 1 s of 160x90 H.264 (B-frames, GOP
// 15) and 44.1 kHz stereo AAC, made by ffmpeg.
func readFile(t testing.TB) []Tag {
	t.Helper()
	f, err := os.Open("testdata/testsrc.flv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := ReadHeader(f)
	if err != nil {
		t.Fatal(err)
	}
	if !h.HasAudio || !h.HasVideo {
		t.Fatalf("header %+v", h)
	}
	var tags []Tag
	r := NewReader(f)
	for {
		tag, err := r.ReadTag()
		if err == io.EOF {
			return tags
		}
		if err != nil {
			t.Fatal(err)
		}
		tags = append(tags, tag)
	}
}

func TestReadFile(t *testing.T) {
	tags := readFile(t)
	n := map[uint8]int{}
	for _, tag := range tags {
		n[tag.Type]++
	}
	if n[TagScript] != 1 || n[TagVideo] != 32 || n[TagAudio] < 44 {
		t.Fatalf("tag counts %v", n)
	}
	sd, err := ParseScriptData(tags[0].Body)
	if err != nil || sd.Name != "onMetaData" {
		t.Fatalf("script %+v %v", sd, err)
	}
	// Write back and compare bytes.
	raw, _ := os.ReadFile("testdata/testsrc.flv")
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.WriteHeader(Header{Version: 1, HasAudio: true, HasVideo: true})
	for _, tag := range tags {
		if err := w.WriteTag(tag); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(buf.Bytes(), raw) {
		t.Fatal("rewritten file differs")
	}
}
