package h264

import "fmt"

// SEI payload types, ITU-T H.264 D.1.1 (Annex D).
const (
	SEITypeBufferingPeriod      = 0
	SEITypePicTiming            = 1
	SEITypeUserDataRegistered   = 4 // ITU-T T.35, e.g. CEA-708 captions
	SEITypeUserDataUnregistered = 5
	SEITypeRecoveryPoint        = 6
)

// SEIMessage is one sei_message of an SEI NAL unit (7.3.2.3.1).
type SEIMessage struct {
	// Type is the payloadType.
	Type int
	// Payload is the sei_payload, with emulation prevention removed.
	Payload []byte
}

// ParseSEI returns the messages of an SEI NAL unit (nal_unit_type 6,
// 7.3.2.3). The payloads may share memory with nal.
//
//	sei_rbsp:    sei_message() ... rbsp_trailing_bits()
//	sei_message: 0xFF* last_payload_type_byte   (type = 255*n + last)
//	             0xFF* last_payload_size_byte   (size = 255*n + last)
//	             sei_payload(type, size)
func ParseSEI(nal []byte) ([]SEIMessage, error) {
	if len(nal) == 0 {
		return nil, fmt.Errorf("SEI: %w: empty NAL unit", ErrTruncated)
	}
	if t := NALUType(nal); t != NALUTypeSEI {
		return nil, fmt.Errorf("SEI: %w: NAL unit type %d", ErrInvalid, t)
	}
	rbsp := RemoveEmulationPrevention(nal[1:])
	var msgs []SEIMessage
	// more_rbsp_data() (7.2): stop at rbsp_trailing_bits. Some encoders leave
	// them out; accept that too.
	for len(rbsp) > 0 && !isTrailingBits(rbsp) {
		typ, n, err := seiNumber(rbsp)
		if err != nil {
			return nil, fmt.Errorf("SEI payload type: %w", err)
		}
		rbsp = rbsp[n:]
		size, n, err := seiNumber(rbsp)
		if err != nil {
			return nil, fmt.Errorf("SEI payload size: %w", err)
		}
		rbsp = rbsp[n:]
		if size > len(rbsp) {
			return nil, fmt.Errorf("SEI: %w: payload type %d of %d bytes, %d left",
				ErrTruncated, typ, size, len(rbsp))
		}
		msgs = append(msgs, SEIMessage{Type: typ, Payload: rbsp[:size:size]})
		rbsp = rbsp[size:]
	}
	return msgs, nil
}

// isTrailingBits reports whether b is rbsp_trailing_bits (7.3.2.11): the
// rbsp_stop_one_bit and zero bits, possibly followed by zero bytes.
func isTrailingBits(b []byte) bool {
	if b[0] != 0x80 {
		return false
	}
	for _, c := range b[1:] {
		if c != 0 {
			return false
		}
	}
	return true
}

// seiNumber reads a payload type or size coded as a run of 0xFF bytes and a
// last byte, returning the value and the bytes read.
func seiNumber(b []byte) (v, n int, err error) {
	for n < len(b) {
		c := b[n]
		n++
		v += int(c)
		if c != 0xff {
			return v, n, nil
		}
	}
	return 0, 0, ErrTruncated
}

// appendSEINumber appends v coded as in seiNumber.
func appendSEINumber(dst []byte, v int) []byte {
	for ; v >= 0xff; v -= 0xff {
		dst = append(dst, 0xff)
	}
	return append(dst, byte(v))
}

// MarshalSEI returns a whole SEI NAL unit (nal_ref_idc 0) carrying the
// messages, with rbsp_trailing_bits and emulation prevention applied.
func MarshalSEI(msgs ...SEIMessage) []byte {
	rbsp := []byte{}
	for _, m := range msgs {
		rbsp = appendSEINumber(rbsp, m.Type)
		rbsp = appendSEINumber(rbsp, len(m.Payload))
		rbsp = append(rbsp, m.Payload...)
	}
	// rbsp_trailing_bits: rbsp_stop_one_bit and alignment zero bits.
	rbsp = append(rbsp, 0x80)
	return append([]byte{NALUTypeSEI}, AddEmulationPrevention(rbsp)...)
}

// MarshalUserDataUnregisteredSEI returns a whole SEI NAL unit carrying one
// user_data_unregistered message (D.1.6): the 16-byte uuid_iso_iec_11578
// followed by data.
func MarshalUserDataUnregisteredSEI(uuid [16]byte, data []byte) []byte {
	payload := make([]byte, 0, len(uuid)+len(data))
	payload = append(payload, uuid[:]...)
	payload = append(payload, data...)
	return MarshalSEI(SEIMessage{Type: SEITypeUserDataUnregistered, Payload: payload})
}

// UserDataUnregistered returns the UUID and data of a user_data_unregistered
// message (D.1.6); ok is false if msg is of another type or too short.
// data shares memory with msg.Payload.
func UserDataUnregistered(msg SEIMessage) (uuid [16]byte, data []byte, ok bool) {
	if msg.Type != SEITypeUserDataUnregistered || len(msg.Payload) < len(uuid) {
		return uuid, nil, false
	}
	copy(uuid[:], msg.Payload)
	return uuid, msg.Payload[len(uuid):], true
}
