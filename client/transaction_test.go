package client

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

func runCollect(t *testing.T, ctx context.Context, addr string) ([]Event, error) {
	t.Helper()
	var got []Event
	err := NewTransaction(addr).Run(ctx, func(e Event) { got = append(got, e) })
	return got, err
}

func TestRunDeliversEventsInOrderThenSucceeds(t *testing.T) {
	addr, _ := startPeerServer(t, func(p *peerTxn) {
		p.onStart = func(p *peerTxn) {
			p.emit("Message", "hello")
			p.emit("TaskBegin", "Checking out tree")
			p.emit("TaskEnd", "done")
			p.emit("PercentProgress", "Writing", uint32(42))
			p.emit("DownloadProgress",
				struct{ A, B uint64 }{1, 2},
				struct{ A, B uint32 }{3, 4},
				struct{ A, B, C uint32 }{5, 6, 7},
				struct {
					A, B, C uint32
					D       uint64
				}{8, 9, 10, 11},
				struct{ A, B uint32 }{12, 13},
				struct{ A, B uint64 }{14, 15})
			p.emit("SignatureProgress", []dbus.Variant{dbus.MakeVariant(true)}, "abc")
			p.emit("ProgressEnd")
			p.emit("SomethingNew", "ignored")
			p.emit("Finished", true, "")
			// Hang up at once: queued signals must still be delivered.
			p.conn.Close()
		}
	})
	got, err := runCollect(t, context.Background(), addr)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := []Event{
		Message{Text: "hello"},
		TaskBegin{Text: "Checking out tree"},
		TaskEnd{Text: "done"},
		PercentProgress{Text: "Writing", Percent: 42},
		DownloadProgress{StartTime: 1, ElapsedSecs: 2, OutstandingFetches: 3, OutstandingWrites: 4,
			ScannedMetadata: 5, MetadataFetched: 6, OutstandingMetadataFetches: 7,
			TotalDeltaParts: 8, FetchedDeltaParts: 9, TotalDeltaSuperblocks: 10, TotalDeltaPartSize: 11,
			Fetched: 12, Requested: 13, BytesTransferred: 14, BytesPerSec: 15},
		SignatureProgress{Signature: []dbus.Variant{dbus.MakeVariant(true)}, Commit: "abc"},
		ProgressEnd{},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events:\n got %#v\nwant %#v", got, want)
	}
}

func TestRunFailureCarriesDaemonMessage(t *testing.T) {
	addr, _ := startPeerServer(t, func(p *peerTxn) {
		p.onStart = func(p *peerTxn) { p.emit("Finished", false, "No such ref: foo") }
	})
	_, err := runCollect(t, context.Background(), addr)
	var fe *FailedError
	if !errors.As(err, &fe) || fe.Message != "No such ref: foo" {
		t.Fatalf("want FailedError(No such ref: foo), got %v", err)
	}
	if errors.Is(err, context.Canceled) {
		t.Fatalf("a plain failure must not look cancelled")
	}
}

func TestRunConnectionLostWithoutFinished(t *testing.T) {
	addr, _ := startPeerServer(t, func(p *peerTxn) {
		p.onStart = func(p *peerTxn) {
			p.emit("Message", "about to crash")
			p.conn.Close()
		}
	})
	got, err := runCollect(t, context.Background(), addr)
	if !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("want ErrConnectionLost, got %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("want the one message before the crash, got %#v", got)
	}
}

func TestRunCancelsOnContextEnd(t *testing.T) {
	addr, cancels := startPeerServer(t, func(p *peerTxn) {
		p.onStart = func(p *peerTxn) { p.emit("TaskBegin", "Pulling") }
		p.onCancel = func(p *peerTxn) { p.emit("Finished", false, "Cancelled") }
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		done <- NewTransaction(addr).Run(ctx, func(e Event) {
			if _, ok := e.(TaskBegin); ok {
				close(started)
			}
		})
	}()
	<-started
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("want an error wrapping context.Canceled, got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancellation")
	}
	select {
	case <-cancels:
	default:
		t.Fatal("Cancel was never called on the transaction")
	}
}

func TestRunAttachesToRunningTransaction(t *testing.T) {
	addr, _ := startPeerServer(t, func(p *peerTxn) {
		p.started = false
		p.title = "upgrade"
		p.onStart = func(p *peerTxn) { p.emit("Finished", true, "") }
	})
	got, err := runCollect(t, context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || got[0] != (Attached{Title: "upgrade"}) {
		t.Fatalf("want Attached{upgrade} first, got %#v", got)
	}
}

func TestTransactionTitleAndCancel(t *testing.T) {
	addr, cancels := startPeerServer(t, func(p *peerTxn) { p.title = "rebase" })
	txn := NewTransaction(addr)
	ctx := context.Background()
	title, err := txn.Title(ctx)
	if err != nil || title != "rebase" {
		t.Fatalf("Title = %q, %v", title, err)
	}
	if err := txn.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-cancels:
	case <-time.After(5 * time.Second):
		t.Fatal("server never saw Cancel")
	}
}

func TestRunUnreachableAddress(t *testing.T) {
	err := NewTransaction("unix:path="+t.TempDir()+"/nothing").Run(context.Background(), nil)
	if err == nil {
		t.Fatal("want an error for a missing socket")
	}
}
