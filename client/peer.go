package client

import (
	"context"
	"strings"

	"github.com/godbus/dbus/v5"
)

// caller is the part of dbus.BusObject this package uses, so that property
// helpers work both on bus objects and on the transaction's peer object.
type caller interface {
	CallWithContext(ctx context.Context, method string, flags dbus.Flags, args ...any) *dbus.Call
}

// peerObject calls methods on object "/" of a peer-to-peer connection.
// godbus's Object always writes a DESTINATION header, empty when there is no
// bus name; GDBus peers (rpm-ostree's daemon) may reject an empty bus name,
// so on a peer connection we build the message ourselves without it.
type peerObject struct {
	conn *dbus.Conn
	path dbus.ObjectPath
}

func (p peerObject) CallWithContext(ctx context.Context, method string, flags dbus.Flags, args ...any) *dbus.Call {
	iface, member := "", method
	if i := strings.LastIndex(method, "."); i >= 0 {
		iface, member = method[:i], method[i+1:]
	}
	msg := &dbus.Message{
		Type:  dbus.TypeMethodCall,
		Flags: flags & (dbus.FlagNoAutoStart | dbus.FlagNoReplyExpected),
		Headers: map[dbus.HeaderField]dbus.Variant{
			dbus.FieldPath:   dbus.MakeVariant(p.path),
			dbus.FieldMember: dbus.MakeVariant(member),
		},
		Body: args,
	}
	if iface != "" {
		msg.Headers[dbus.FieldInterface] = dbus.MakeVariant(iface)
	}
	if len(args) > 0 {
		msg.Headers[dbus.FieldSignature] = dbus.MakeVariant(dbus.SignatureOf(args...))
	}
	return <-p.conn.SendWithContext(ctx, msg, make(chan *dbus.Call, 1)).Done
}
