package rtmp

import (
	"reflect"
	"testing"

	"github.com/liveloop/liveloop/flv/amf0"
)

var commandCases = []struct {
	name string
	cmd  Command
}{
	{"connect", Command{Name: "connect", TxnID: 1, Object: amf0.Object{
		{Key: "app", Value: "live"}, {Key: "tcUrl", Value: "rtmp://localhost/live"}, {Key: "objectEncoding", Value: 0.0}}}},
	{"createStream", Command{Name: "createStream", TxnID: 4}},
	{"publish", Command{Name: "publish", TxnID: 5, Args: []any{"key", "live"}}},
	{"onStatus", Command{Name: "onStatus", Args: []any{status("status", "NetStream.Publish.Start", "ok")}}},
	{"_result with undefined", Command{Name: "_result", TxnID: 2, Args: []any{amf0.Undefined{}}}},
}

func TestCommandRoundTrip(t *testing.T) {
	for _, c := range commandCases {
		t.Run(c.name, func(t *testing.T) {
			b, err := c.cmd.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseCommand(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.cmd) {
				t.Fatalf("got %#v\nwant %#v", got, c.cmd)
			}
		})
	}
}

func TestParseCommandErrors(t *testing.T) {
	for _, b := range [][]byte{nil, {0x00, 0, 0, 0, 0, 0, 0, 0, 0}, {0x02, 0, 9, 'a'}} {
		if _, err := ParseCommand(b); err == nil {
			t.Errorf("% x parsed", b)
		}
	}
}

func TestControlMessages(t *testing.T) {
	for _, c := range []struct {
		m    *Message
		typ  uint8
		want []byte
	}{
		{SetChunkSizeMessage(4096), TypeSetChunkSize, []byte{0, 0, 0x10, 0}},
		{AcknowledgementMessage(7), TypeAcknowledgement, []byte{0, 0, 0, 7}},
		{WindowAckSizeMessage(2500000), TypeWindowAckSize, []byte{0, 0x26, 0x25, 0xa0}},
		{SetPeerBandwidthMessage(2500000, LimitDynamic), TypeSetPeerBandwidth, []byte{0, 0x26, 0x25, 0xa0, 2}},
		{UserControlMessage(EventStreamBegin, 1), TypeUserControl, []byte{0, 0, 0, 0, 0, 1}},
	} {
		if c.m.Type != c.typ || c.m.CSID != 2 || string(c.m.Payload) != string(c.want) {
			t.Errorf("type %d: % x", c.m.Type, c.m.Payload)
		}
	}
	ev, v, err := ParseUserControl([]byte{0, 6, 0, 0, 1, 0})
	if err != nil || ev != EventPingRequest || v != 256 {
		t.Fatalf("ping: %d %d %v", ev, v, err)
	}
}
