package transcode

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/liveloop/liveloop/media/opus"
)

// oggCases feed the parser test, the writer test and the fuzz seeds.
var oggCases = []struct {
	name string
	page Page
	// packets completed on the page (after an assembler that saw none
	// before), and the granule each is reported with.
	packets  []string
	granules []int64
}{
	{"head", Page{HeaderType: oggBOS, Serial: 7, Segments: Lacing(19), Data: []byte("OpusHead\x01\x02\x78\x00\x80\xbb\x00\x00\x00\x00\x00")},
		[]string{"OpusHead\x01\x02\x78\x00\x80\xbb\x00\x00\x00\x00\x00"}, []int64{0}},
	{"two packets", Page{Granule: 1920, Serial: 7, Sequence: 2, Segments: Lacing(3, 2), Data: []byte("abcde")},
		[]string{"abc", "de"}, []int64{-1, 1920}},
	{"255 bytes", Page{Granule: 960, Serial: 7, Sequence: 3, Segments: Lacing(255), Data: bytes.Repeat([]byte{'x'}, 255)},
		[]string{string(bytes.Repeat([]byte{'x'}, 255))}, []int64{960}},
	{"unfinished", Page{Granule: -1, Serial: 7, Sequence: 4, Segments: []byte{255}, Data: bytes.Repeat([]byte{'y'}, 255)},
		nil, nil},
	{"eos empty", Page{HeaderType: oggEOS, Granule: 5, Serial: 7, Sequence: 5}, nil, nil},
}

func TestParsePage(t *testing.T) {
	for _, tc := range oggCases {
		t.Run(tc.name, func(t *testing.T) {
			b := AppendPage(nil, &tc.page)
			p, rest, err := ParsePage(append(b, "tail"...))
			if err != nil {
				t.Fatal(err)
			}
			if string(rest) != "tail" {
				t.Errorf("rest %q", rest)
			}
			if p.HeaderType != tc.page.HeaderType || p.Granule != tc.page.Granule || p.Serial != tc.page.Serial ||
				p.Sequence != tc.page.Sequence || !bytes.Equal(p.Segments, tc.page.Segments) || !bytes.Equal(p.Data, tc.page.Data) {
				t.Errorf("got %+v, want %+v", p, tc.page)
			}
			// Every proper prefix is short.
			for i := range b {
				if _, _, err := ParsePage(b[:i]); !errors.Is(err, ErrShort) {
					t.Fatalf("prefix %d: %v, want ErrShort", i, err)
				}
			}
			// A flipped bit breaks the CRC (or the header).
			bad := bytes.Clone(b)
			bad[len(bad)-1] ^= 1
			if len(tc.page.Data) > 0 {
				if _, _, err := ParsePage(bad); !errors.Is(err, ErrInvalid) {
					t.Errorf("corrupt page: %v", err)
				}
			}
			var a packetAssembler
			var pk []string
			var gs []int64
			if err := a.push(&p, func(b []byte, g int64) { pk = append(pk, string(b)); gs = append(gs, g) }); err != nil {
				t.Fatal(err)
			}
			if len(pk) != len(tc.packets) || (len(pk) > 0 && (pk[0] != tc.packets[0] || gs[len(gs)-1] != tc.granules[len(tc.granules)-1])) {
				t.Errorf("packets %q %v, want %q %v", pk, gs, tc.packets, tc.granules)
			}
		})
	}
}

// TestFFmpegOutput parses Ogg Opus that ffmpeg wrote (testdata/sine.opus,
// 200 ms, one page per packet): CRCs hold, and the last granule position
// is the samples of every packet.
func TestFFmpegOutput(t *testing.T) {
	b, err := os.ReadFile("testdata/sine.opus")
	if err != nil {
		t.Fatal(err)
	}
	var a packetAssembler
	var head *opus.Head
	var samples, granule int64
	n := 0
	for rest := b; len(rest) > 0; {
		p, r, err := ParsePage(rest)
		if err != nil {
			t.Fatalf("page %d: %v", n, err)
		}
		rest = r
		a.push(&p, func(pkt []byte, g int64) {
			n++
			switch n {
			case 1:
				h, err := opus.ParseHead(pkt)
				if err != nil {
					t.Fatal(err)
				}
				head = &h
			case 2:
			default:
				k, err := opus.PacketSamples(pkt)
				if err != nil {
					t.Fatal(err)
				}
				samples += int64(k)
				if g >= 0 {
					granule = g
				}
			}
		})
	}
	if head == nil || head.PreSkip != 120 {
		t.Fatalf("head %+v", head)
	}
	// The end trims the final packet to 200 ms plus pre-skip.
	if want := int64(head.PreSkip) + 9600; granule != want || samples < granule || samples-granule >= 960 {
		t.Errorf("granule %d, packets %d samples; want granule %d", granule, samples, want)
	}
}

// TestAssemblerAcrossPages: a packet spanning pages is joined; a continued
// page with nothing to continue has its fragment dropped.
func TestAssemblerAcrossPages(t *testing.T) {
	big := bytes.Repeat([]byte{'z'}, 300)
	p1 := Page{Granule: -1, Segments: []byte{255}, Data: big[:255]}
	p2 := Page{HeaderType: oggContinued, Granule: 960, Segments: []byte{45, 2}, Data: append(bytes.Clone(big[255:]), 'o', 'k')}
	var a packetAssembler
	var got []string
	emit := func(b []byte, _ int64) { got = append(got, string(b)) }
	if err := a.push(&p1, emit); err != nil {
		t.Fatal(err)
	}
	if err := a.push(&p2, emit); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != string(big) || got[1] != "ok" {
		t.Errorf("got %d packets: %q", len(got), got)
	}
	var b packetAssembler
	got = nil
	b.push(&p2, emit) // lost its first page
	if len(got) != 1 || got[0] != "ok" {
		t.Errorf("after a lost page: %q", got)
	}
}

// FuzzParsePage feeds arbitrary bytes, whole and split at every point as a
// pipe read would split them, to the page reader and the assembler.
func FuzzParsePage(f *testing.F) {
	for _, tc := range oggCases {
		f.Add(AppendPage(nil, &tc.page))
	}
	if b, err := os.ReadFile("testdata/sine.opus"); err == nil {
		f.Add(b)
	}
	f.Add(append(AppendPage(nil, &oggCases[3].page), AppendPage(nil, &Page{HeaderType: oggContinued, Segments: []byte{1}, Data: []byte{1}})...))
	f.Fuzz(func(t *testing.T, b []byte) {
		var whole []Page
		for rest := b; ; {
			p, r, err := ParsePage(rest)
			if err != nil {
				break
			}
			whole = append(whole, p)
			var a packetAssembler
			a.push(&p, func([]byte, int64) {})
			out := AppendPage(nil, &p)
			if q, _, err := ParsePage(out); err != nil || !bytes.Equal(q.Data, p.Data) {
				t.Fatalf("round trip: %v", err)
			}
			rest = r
		}
		for i := 0; i <= len(b) && i < 64; i++ {
			pr := newPageReader(&splitReader{parts: [][]byte{b[:i], b[i:]}})
			for n := 0; ; n++ {
				p, err := pr.next()
				if err != nil {
					break
				}
				if n >= len(whole) || !bytes.Equal(p.Data, whole[n].Data) {
					t.Fatalf("split at %d: page %d differs", i, n)
				}
			}
		}
	})
}

// splitReader returns its parts one Read at a time.
type splitReader struct{ parts [][]byte }

func (r *splitReader) Read(p []byte) (int, error) {
	for len(r.parts) > 0 && len(r.parts[0]) == 0 {
		r.parts = r.parts[1:]
	}
	if len(r.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.parts[0])
	r.parts[0] = r.parts[0][n:]
	return n, nil
}
