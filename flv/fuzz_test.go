package flv

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// FuzzFLVTag feeds video and audio tag bodies to their parsers, and the
// same bytes, as an FLV stream split into pieces, to the Reader.
func FuzzFLVTag(f *testing.F) {
	for _, c := range videoCases {
		f.Add(uint8(TagVideo), c.body, uint8(3))
	}
	for _, c := range audioCases {
		f.Add(uint8(TagAudio), c.body, uint8(1))
	}
	for _, c := range tagCases {
		f.Add(uint8(0), c.wire, uint8(2))
	}
	f.Fuzz(func(t *testing.T, kind uint8, b []byte, split uint8) {
		if v, err := ParseVideoTag(b); err == nil && !v.Enhanced && v.FrameType != FrameCommand {
			// Legacy AVC re-encodes to the same bytes.
			if got := AppendVideoTag(nil, v); !bytes.Equal(got, b) {
				t.Fatalf("video round trip: % x -> % x", b, got)
			}
		}
		if a, err := ParseAudioTag(b); err == nil {
			if got := AppendAudioTag(nil, a); len(got) != len(b) {
				t.Fatalf("audio round trip: % x -> % x", b, got)
			}
		}
		ParseScriptData(b)
		r := NewReader(&splitReader{b: b, n: int(split%16) + 1})
		for {
			if _, err := r.ReadTag(); err != nil && !errors.Is(err, ErrUnsupported) {
				break
			}
		}
	})
}

// FuzzDemuxer feeds a sequence of tags, packed as an FLV tag stream, to a
// Demuxer; it must neither panic nor write frames on unannounced tracks.
func FuzzDemuxer(f *testing.F) {
	var seed bytes.Buffer
	w := NewWriter(&seed)
	for _, tag := range readFile(f)[:3] { // metadata and sequence headers: small inputs mutate and minimize fast
		w.WriteTag(tag)
	}
	f.Add(seed.Bytes())
	// A small synthetic stream mutates faster.
	var small bytes.Buffer
	w = NewWriter(&small)
	for _, tag := range []Tag{{TagAudio, 0, aacHeader48k}, {TagAudio, 21, aacFrame}, {TagVideo, 0, idrFrame}, {TagAudio, 43, aacFrame}} {
		w.WriteTag(tag)
	}
	f.Add(small.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		d, s := newTestDemuxer()
		r := NewReader(iotest.DataErrReader(bytes.NewReader(b)))
		for {
			tag, err := r.ReadTag()
			if err != nil {
				break
			}
			d.WriteTag(tag.Type, tag.Timestamp, tag.Body)
		}
		for _, fr := range s.frames {
			if len(s.announced) == 0 || fr.Track >= len(s.announced[len(s.announced)-1]) {
				t.Fatalf("frame on track %d without announcement", fr.Track)
			}
		}
	})
}

// splitReader returns at most n bytes per Read, as a network would.
type splitReader struct {
	b []byte
	n int
}

func (r *splitReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), r.n, len(r.b))
	copy(p, r.b[:k])
	r.b = r.b[k:]
	return k, nil
}
