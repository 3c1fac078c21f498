package loadtest

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/liveloop/liveloop/flv"
	"github.com/liveloop/liveloop/media/h264"
)

// StampUUID is the uuid_iso_iec_11578 of Liveloop's timing SEI (a version 4
// UUID made for this tool): a user_data_unregistered message (ITU-T H.264
// D.1.6) with this UUID carries a Stamp.
var StampUUID = [16]byte{
	0x6c, 0x69, 0x76, 0x65, 0x6c, 0x6f, 0x6f, 0x70, // "liveloop"
	0x8a, 0x1e, 0x4c, 0x0d, 0xb2, 0x5f, 0x93, 0x17,
}

// StampSize is the size of a Stamp's payload after the UUID.
const StampSize = 12

// Stamp is what the load tool's publisher writes into every video frame.
//
//	+--------------------------------+----------------+
//	| SendTime (int64, Unix ns, BE)  | Seq (uint32 BE)|
//	+--------------------------------+----------------+
//
// The receive time minus SendTime is the frame's delivery latency (both ends
// run on one machine, on one clock); gaps in Seq are lost frames.
type Stamp struct {
	SendTime int64
	Seq      uint32
}

// Errors of the stamp functions.
var (
	ErrNoStamp   = errors.New("loadtest: no stamp in frame")
	ErrNotCoded  = errors.New("loadtest: not an AVC coded-frames tag")
	ErrMalformed = errors.New("loadtest: malformed video data")
)

// MarshalStampSEI returns a whole SEI NAL unit carrying s.
func MarshalStampSEI(s Stamp) []byte {
	var p [StampSize]byte
	binary.BigEndian.PutUint64(p[:8], uint64(s.SendTime))
	binary.BigEndian.PutUint32(p[8:], s.Seq)
	return h264.MarshalUserDataUnregisteredSEI(StampUUID, p[:])
}

// StampOffset returns where in an FLV video tag body the stamp SEI goes: after
// the tag header and any leading non-VCL NAL units (access unit delimiter,
// parameter sets, other SEI), just before the first slice, as H.264 7.4.1.2.3
// orders an access unit. It fails with ErrNotCoded for tags that carry no AVC
// frame (sequence headers, other codecs), which are sent unstamped.
func StampOffset(body []byte, lengthSize int) (int, error) {
	t, err := flv.ParseVideoTag(body)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrNotCoded, err)
	}
	if t.FourCC != flv.FourCCAVC || (t.PacketType != flv.PacketCodedFrames && t.PacketType != flv.PacketCodedFramesX) || len(t.Data) == 0 {
		return 0, ErrNotCoded
	}
	hdr := len(body) - len(t.Data)
	off := 0
	for off < len(t.Data) {
		n, ok := naluLen(t.Data[off:], lengthSize)
		if !ok || off+lengthSize+n > len(t.Data) {
			return 0, ErrMalformed
		}
		if n > 0 && isVCL(h264.NALUType(t.Data[off+lengthSize:])) {
			break
		}
		off += lengthSize + n
	}
	return hdr + off, nil
}

// AppendStamped appends to dst body with sei (a whole NAL unit) inserted at
// off (from StampOffset) with a length prefix of lengthSize bytes.
func AppendStamped(dst, body []byte, off, lengthSize int, sei []byte) []byte {
	dst = append(dst, body[:off]...)
	var l [4]byte
	binary.BigEndian.PutUint32(l[:], uint32(len(sei)))
	dst = append(dst, l[4-lengthSize:]...)
	dst = append(dst, sei...)
	return append(dst, body[off:]...)
}

// ExtractStamp finds the stamp in one access unit of AVCC data with 4-byte
// lengths, as an fMP4 video sample holds it. It looks only at the SEI NAL
// units before the first slice and allocates nothing unless it meets one.
func ExtractStamp(avcc []byte) (Stamp, error) {
	for off := 0; off < len(avcc); {
		n, ok := naluLen(avcc[off:], 4)
		if !ok || off+4+n > len(avcc) {
			return Stamp{}, ErrMalformed
		}
		nal := avcc[off+4 : off+4+n]
		off += 4 + n
		if n == 0 {
			continue
		}
		typ := h264.NALUType(nal)
		if isVCL(typ) {
			break
		}
		if typ != h264.NALUTypeSEI {
			continue
		}
		if s, ok := stampFromSEI(nal); ok {
			return s, nil
		}
	}
	return Stamp{}, ErrNoStamp
}

func stampFromSEI(nal []byte) (Stamp, bool) {
	msgs, err := h264.ParseSEI(nal)
	if err != nil {
		return Stamp{}, false
	}
	for _, m := range msgs {
		uuid, data, ok := h264.UserDataUnregistered(m)
		if !ok || uuid != StampUUID || len(data) < StampSize {
			continue
		}
		return Stamp{
			SendTime: int64(binary.BigEndian.Uint64(data)),
			Seq:      binary.BigEndian.Uint32(data[8:]),
		}, true
	}
	return Stamp{}, false
}

func naluLen(b []byte, size int) (int, bool) {
	if len(b) < size {
		return 0, false
	}
	n := 0
	for _, c := range b[:size] {
		n = n<<8 | int(c)
	}
	return n, true
}

// isVCL reports whether a NAL unit type is a coded slice (H.264 7.4.1.2.3).
func isVCL(t uint8) bool { return t >= h264.NALUTypeSlice && t <= h264.NALUTypeIDR }
