package icetcp

import (
	"encoding/binary"
	"testing"

	"github.com/pion/stun/v4"
)

// bindingRequest is an RFC 4571 frame holding the kind of STUN Binding
// request an ICE agent sends first.
func bindingRequest(tb testing.TB) []byte {
	tb.Helper()
	m, err := stun.Build(stun.TransactionID, stun.BindingRequest,
		stun.NewUsername("remoteufrag:localufrag"), stun.NewShortTermIntegrity("password"), stun.Fingerprint)
	if err != nil {
		tb.Fatal(err)
	}
	return frame(m.Raw)
}

func frame(p []byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(p))), p...)
}

// classifyCases feed TestClassify and the seeds of FuzzClassify.
func classifyCases(tb testing.TB) []struct {
	name string
	in   []byte
	want Kind
} {
	bind := bindingRequest(tb)
	response := append([]byte(nil), bind...)
	response[3] = 0x01 // Binding success response: 0x0101
	response[2] = 0x01
	badCookie := append([]byte(nil), bind...)
	badCookie[9] ^= 0xff
	badLength := append([]byte(nil), bind...)
	badLength[1]++
	return []struct {
		name string
		in   []byte
		want Kind
	}{
		{"binding request", bind, ICE},
		{"binding request header", bind[:ClassifyLen], ICE},
		{"binding request, 9 bytes", bind[:9], NeedMore},
		{"binding request, 2 bytes", bind[:2], NeedMore},
		{"empty", nil, NeedMore},
		{"binding response", response, Other},
		{"wrong magic cookie", badCookie, Other},
		{"frame length is not the STUN length", badLength, Other},
		{"HTTP GET", []byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), Other},
		{"HTTP, 3 bytes", []byte("POS"), Other},
		{"HTTP, 2 bytes", []byte("PO"), NeedMore},
		{"TLS 1.2 ClientHello", []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}, Other},
		{"TLS, 3 bytes", []byte{0x16, 0x03, 0x01}, Other},
		{"RTP frame", frame([]byte{0x80, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}), Other},
		{"zeros", make([]byte, 32), Other},
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range classifyCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			if got := Classify(tc.in); got != tc.want {
				t.Errorf("Classify(%x) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzClassify checks what the Demux relies on, for any input fed in
// pieces as a network read splits it: an answer for a prefix is NeedMore
// or the answer for the whole; ClassifyLen bytes always decide; and ICE
// means a well-formed STUN Binding request header.
func FuzzClassify(f *testing.F) {
	for _, tc := range classifyCases(f) {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		whole := Classify(b)
		if len(b) >= ClassifyLen && whole == NeedMore {
			t.Fatalf("%x: undecided after %d bytes", b, len(b))
		}
		for i := range len(b) {
			if k := Classify(b[:i]); k != NeedMore && k != whole {
				t.Fatalf("%x: prefix of %d bytes is %v, the whole %v", b, i, k, whole)
			}
		}
		if whole != ICE {
			return
		}
		// The STUN header, with the transaction ID zeroed.
		hdr := append(append([]byte(nil), b[2:ClassifyLen]...), make([]byte, 12)...)
		if !stun.IsMessage(hdr) {
			t.Fatalf("%x: ICE, but no STUN magic cookie", b)
		}
		var typ stun.MessageType
		typ.ReadValue(binary.BigEndian.Uint16(hdr))
		if typ != stun.BindingRequest {
			t.Fatalf("%x: ICE, but STUN type %v", b, typ)
		}
		if frame, msg := binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(hdr[2:]); int(frame) != 20+int(msg) {
			t.Fatalf("%x: ICE, but frame length %d for a STUN length %d", b, frame, msg)
		}
	})
}
