package client

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/godbus/dbus/v5"
)

// The daemon sends a(sstsss); after a round trip through the wire encoding
// godbus hands the client [][]any, which DecodePackageList reads.
func TestDecodePackageListWire(t *testing.T) {
	type tuple struct {
		NEVRA, Name string
		Epoch       uint64
		Version     string
		Release     string
		Arch        string
	}
	sent := []tuple{{"a-1-1.noarch", "a", 0, "1", "1", "noarch"}, {"b-2:3-4.x86_64", "b", 2, "3", "4", "x86_64"}}
	msg := &dbus.Message{Type: dbus.TypeMethodReply, Headers: map[dbus.HeaderField]dbus.Variant{
		dbus.FieldReplySerial: dbus.MakeVariant(uint32(1)),
		dbus.FieldSignature:   dbus.MakeVariant(dbus.SignatureOf(sent)),
	}, Body: []any{sent}}
	var raw [][]any
	if err := dbus.Store(roundTrip(t, msg).Body, &raw); err != nil {
		t.Fatal(err)
	}
	got, err := DecodePackageList(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := []NEVRA{
		{NEVRA: "a-1-1.noarch", Name: "a", Version: "1", Release: "1", Arch: "noarch"},
		{NEVRA: "b-2:3-4.x86_64", Name: "b", Epoch: 2, Version: "3", Release: "4", Arch: "x86_64"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DecodePackageList = %+v", got)
	}
	if got[1].EVR() != "2:3-4" {
		t.Errorf("EVR = %s", got[1].EVR())
	}
}

func TestDecodePackageListRejectsOtherShapes(t *testing.T) {
	for _, raw := range [][][]any{
		{{"a-1-1.noarch", "a", uint64(0), "1", "1"}},                       // short
		{{"a-1-1.noarch", "a", uint32(0), "1", "1", "noarch"}},             // epoch not t
		{{"a-1-1.noarch", "a", uint64(0), "1", "1", dbus.ObjectPath("/")}}, // arch not s
	} {
		if _, err := DecodePackageList(raw); err == nil {
			t.Errorf("DecodePackageList(%v) accepted", raw)
		}
	}
	if got, err := DecodePackageList(nil); err != nil || len(got) != 0 {
		t.Errorf("empty list = %v, %v", got, err)
	}
}

func roundTrip(t *testing.T, msg *dbus.Message) *dbus.Message {
	t.Helper()
	var buf bytes.Buffer
	if err := msg.EncodeTo(&buf, binary.LittleEndian); err != nil {
		t.Fatalf("encoding: %v", err)
	}
	out, err := dbus.DecodeMessage(&buf)
	if err != nil {
		t.Fatalf("decoding: %v", err)
	}
	return out
}
