package amf0

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Decode decodes one AMF0 value from the start of b and returns it with the
// number of bytes it used.
func Decode(b []byte) (v any, n int, err error) {
	d := decoder{buf: b}
	v, err = d.value(0)
	return v, d.off, err
}

// DecodeAll decodes every value in b, as in an RTMP command message or an FLV
// script data tag. Object references resolve across the values of b.
func DecodeAll(b []byte) ([]any, error) {
	d := decoder{buf: b}
	var vs []any
	for d.off < len(d.buf) {
		v, err := d.value(0)
		if err != nil {
			return vs, err
		}
		vs = append(vs, v)
	}
	return vs, nil
}

type decoder struct {
	buf []byte
	off int
	// refs holds complex values (objects, arrays) in the order they began,
	// for reference markers (AMF0 2.9).
	refs []any
}

func (d *decoder) need(n int) ([]byte, error) {
	if n < 0 || len(d.buf)-d.off < n {
		return nil, ErrShort
	}
	b := d.buf[d.off : d.off+n]
	d.off += n
	return b, nil
}

func (d *decoder) u8() (byte, error) {
	b, err := d.need(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

func (d *decoder) u16() (int, error) {
	b, err := d.need(2)
	if err != nil {
		return 0, err
	}
	return int(binary.BigEndian.Uint16(b)), nil
}

func (d *decoder) u32() (uint32, error) {
	b, err := d.need(4)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b), nil
}

func (d *decoder) number() (float64, error) {
	b, err := d.need(8)
	if err != nil {
		return 0, err
	}
	return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
}

// utf8 reads a UTF-8 (u16 length) or UTF-8-long (u32 length) string (AMF0 1.3).
func (d *decoder) utf8(long bool) (string, error) {
	var n int
	if long {
		l, err := d.u32()
		if err != nil {
			return "", err
		}
		if uint64(l) > uint64(len(d.buf)-d.off) {
			return "", ErrShort
		}
		n = int(l)
	} else {
		l, err := d.u16()
		if err != nil {
			return "", err
		}
		n = l
	}
	b, err := d.need(n)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func (d *decoder) value(depth int) (any, error) {
	if depth > MaxDepth {
		return nil, ErrDepth
	}
	m, err := d.u8()
	if err != nil {
		return nil, err
	}
	switch m {
	case markerNumber: // 2.2
		return d.number()
	case markerBoolean: // 2.3
		b, err := d.u8()
		return b != 0, err
	case markerString: // 2.4
		return d.utf8(false)
	case markerLongString, markerXMLDocument: // 2.14, 2.17
		return d.utf8(true)
	case markerObject: // 2.5
		return d.object(depth, false)
	case markerTypedObject: // 2.18: class-name then object properties
		if _, err := d.utf8(false); err != nil {
			return nil, err
		}
		return d.object(depth, false)
	case markerNull: // 2.7
		return nil, nil
	case markerUndefined, markerUnsupported: // 2.8, 2.16
		return Undefined{}, nil
	case markerReference: // 2.9
		i, err := d.u16()
		if err != nil {
			return nil, err
		}
		if i >= len(d.refs) {
			return nil, fmt.Errorf("%w: %d", ErrReference, i)
		}
		return d.refs[i], nil
	case markerECMAArray: // 2.10: associative-count is a hint; read to object end.
		if _, err := d.u32(); err != nil {
			return nil, err
		}
		return d.object(depth, true)
	case markerStrictArray: // 2.12
		return d.strictArray(depth)
	case markerDate: // 2.13: ms since epoch, then a reserved S16 time zone.
		ms, err := d.number()
		if err != nil {
			return nil, err
		}
		if _, err := d.need(2); err != nil {
			return nil, err
		}
		if math.IsNaN(ms) || math.IsInf(ms, 0) || math.Abs(ms) > 8.64e15 {
			ms = 0
		}
		return dateFromMillis(ms), nil
	case markerObjectEnd:
		return nil, ErrObjectEnd
	}
	return nil, fmt.Errorf("%w 0x%02x", ErrMarker, m)
}

// object reads properties up to the object-end marker (an empty key
// followed by 0x09).
func (d *decoder) object(depth int, ecma bool) (any, error) {
	ref := len(d.refs)
	d.refs = append(d.refs, nil)
	var props []Property
	for {
		key, err := d.utf8(false)
		if err != nil {
			return nil, err
		}
		if key == "" && d.off < len(d.buf) && d.buf[d.off] == markerObjectEnd {
			d.off++
			break
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		props = append(props, Property{Key: key, Value: v})
	}
	var v any = Object(props)
	if ecma {
		v = ECMAArray(props)
	}
	d.refs[ref] = v
	return v, nil
}

func (d *decoder) strictArray(depth int) (any, error) {
	ref := len(d.refs)
	d.refs = append(d.refs, nil)
	n, err := d.u32()
	if err != nil {
		return nil, err
	}
	// Every element takes at least one byte: bound the count by the input.
	if uint64(n) > uint64(len(d.buf)-d.off) {
		return nil, ErrShort
	}
	vs := make([]any, 0, n)
	for range n {
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	d.refs[ref] = vs
	return vs, nil
}
