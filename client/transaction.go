package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
)

// ErrConnectionLost is returned by Run when the transaction's connection
// closes before Finished arrives (the daemon crashed or dropped us).
var ErrConnectionLost = errors.New("transaction connection lost")

// cancelTimeout bounds the Cancel call Run makes after its context ended:
// the caller's context is already done, so it cannot bound that call.
const cancelTimeout = 10 * time.Second

// FailedError is a transaction that finished unsuccessfully
// (Finished(false, message)). Message is the daemon's text, as rpm-ostree
// prints it after "error: ". When the failure follows a cancellation that Run
// requested, Unwrap returns the context's error, so
// errors.Is(err, context.Canceled) tells a user's Ctrl-C from a failure.
type FailedError struct {
	Message string
	cause   error
}

func (e *FailedError) Error() string { return e.Message }
func (e *FailedError) Unwrap() error { return e.cause }

// Transaction is a transaction address returned by a mutating method (or
// Sysroot's ActiveTransactionPath). It holds no connection: each operation
// opens its own peer-to-peer connection, so a Transaction value is cheap and
// safe to share.
type Transaction struct {
	Address string // e.g. "unix:path=/run/rpm-ostree/transaction-…"
}

// NewTransaction wraps an address.
func NewTransaction(address string) *Transaction { return &Transaction{Address: address} }

// Event is one progress signal, delivered in order. The concrete types are
// Attached, Message, TaskBegin, TaskEnd, PercentProgress, DownloadProgress,
// SignatureProgress and ProgressEnd.
type Event interface{ isEvent() }

// Attached is delivered first when Start returned false: the transaction was
// already running (another client started it) and we joined it.
type Attached struct{ Title string }

// Message is free text for the user.
type Message struct{ Text string }

// TaskBegin starts a task ("Checking out tree"); TaskEnd ends it with a
// suffix ("done" when empty).
type TaskBegin struct{ Text string }

// TaskEnd ends the current task; Text is the suffix to show.
type TaskEnd struct{ Text string }

// PercentProgress updates a percentage bar.
type PercentProgress struct {
	Text    string
	Percent uint32
}

// DownloadProgress mirrors the six tuples of the DownloadProgress signal.
type DownloadProgress struct {
	StartTime, ElapsedSecs                                       uint64
	OutstandingFetches, OutstandingWrites                        uint32
	ScannedMetadata, MetadataFetched, OutstandingMetadataFetches uint32
	TotalDeltaParts, FetchedDeltaParts, TotalDeltaSuperblocks    uint32
	TotalDeltaPartSize                                           uint64
	Fetched, Requested                                           uint32
	BytesTransferred, BytesPerSec                                uint64
}

// SignatureProgress reports a verified signature (an ostree GPG verify
// result tuple) for a commit.
type SignatureProgress struct {
	Signature []dbus.Variant
	Commit    string
}

// ProgressEnd ends the current percent or download progress.
type ProgressEnd struct{}

func (Attached) isEvent()          {}
func (Message) isEvent()           {}
func (TaskBegin) isEvent()         {}
func (TaskEnd) isEvent()           {}
func (PercentProgress) isEvent()   {}
func (DownloadProgress) isEvent()  {}
func (SignatureProgress) isEvent() {}
func (ProgressEnd) isEvent()       {}

// Run starts (or joins) the transaction and follows it to the end, passing
// each progress signal to events (which may be nil) in order. It returns nil
// on Finished(true), a *FailedError on Finished(false), and an error
// wrapping ErrConnectionLost when the connection closes without Finished.
//
// When ctx ends, Run calls Cancel on the transaction and keeps waiting for
// Finished (the daemon decides when it is safe to stop). If the transaction
// still succeeds, Run returns nil: the work was done. A second way out for
// impatient callers is to stop waiting on Run altogether.
func (t *Transaction) Run(ctx context.Context, events func(Event)) error {
	if events == nil {
		events = func(Event) {}
	}
	conn, q, err := dialTransaction(t.Address)
	if err != nil {
		return err
	}
	defer conn.Close()
	obj := peerObject{conn: conn, path: "/"}

	var started bool
	if err := obj.CallWithContext(ctx, TransactionInterface+".Start", 0).Store(&started); err != nil {
		if ctx.Err() != nil {
			// We may have started it just before giving up; don't leave it
			// running on behalf of a caller who went away.
			sendCancel(obj)
			return fmt.Errorf("starting transaction: %w", ctx.Err())
		}
		return fmt.Errorf("starting transaction: %w", err)
	}
	if !started {
		var title string
		_ = getProperty(ctx, obj, TransactionInterface, "Title", &title)
		events(Attached{Title: title})
	}

	wait := ctx.Done()
	var cancelled error
	for {
		sig, ok := q.next(wait)
		if sig == nil {
			if ok { // wait fired: ctx ended
				cancelled = ctx.Err()
				sendCancel(obj)
				wait = nil // from now on wait only for Finished or EOF
				continue
			}
			if cancelled != nil {
				return &FailedError{Message: "Transaction cancelled", cause: cancelled}
			}
			return fmt.Errorf("%w (%s)", ErrConnectionLost, t.Address)
		}
		if sig.Name == TransactionInterface+".Finished" {
			var success bool
			var msg string
			if err := dbus.Store(sig.Body, &success, &msg); err != nil {
				return fmt.Errorf("decoding Finished signal: %w", err)
			}
			if success {
				return nil
			}
			return &FailedError{Message: msg, cause: cancelled}
		}
		if ev := decodeEvent(sig); ev != nil {
			events(ev)
		}
	}
}

// Cancel asks the daemon to cancel the transaction.
func (t *Transaction) Cancel(ctx context.Context) error {
	conn, _, err := dialTransaction(t.Address)
	if err != nil {
		return err
	}
	defer conn.Close()
	obj := peerObject{conn: conn, path: "/"}
	if err := obj.CallWithContext(ctx, TransactionInterface+".Cancel", 0).Err; err != nil {
		return fmt.Errorf("cancelling transaction: %w", err)
	}
	return nil
}

// Title reads the transaction's Title property (e.g. "upgrade").
func (t *Transaction) Title(ctx context.Context) (string, error) {
	return t.stringProp(ctx, "Title")
}

// InitiatingClientDescription reads who started the transaction.
func (t *Transaction) InitiatingClientDescription(ctx context.Context) (string, error) {
	return t.stringProp(ctx, "InitiatingClientDescription")
}

func (t *Transaction) stringProp(ctx context.Context, name string) (string, error) {
	conn, _, err := dialTransaction(t.Address)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	var s string
	if err := getProperty(ctx, peerObject{conn: conn, path: "/"}, TransactionInterface, name, &s); err != nil {
		return "", err
	}
	return s, nil
}

func sendCancel(obj caller) {
	ctx, cancel := context.WithTimeout(context.Background(), cancelTimeout)
	defer cancel()
	// An error here is not actionable: the transaction may just have ended.
	_ = obj.CallWithContext(ctx, TransactionInterface+".Cancel", 0).Err
}

// dialTransaction opens the peer-to-peer connection: authenticate, no Hello
// (there is no bus), and collect signals in our own queue. No AddMatch is
// needed: on a peer connection every signal is meant for us.
func dialTransaction(addr string) (*dbus.Conn, *signalQueue, error) {
	q := newSignalQueue()
	conn, err := dbus.Dial(addr, dbus.WithSignalHandler(q))
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to transaction %s: %w", addr, err)
	}
	if err := conn.Auth(nil); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("authenticating to transaction %s: %w", addr, err)
	}
	return conn, q, nil
}

// signalQueue is a godbus SignalHandler with an unbounded, ordered queue that
// keeps what it holds when the connection closes. godbus's own handlers drop
// queued signals on close, and a daemon that sends Finished and hangs up at
// once would then look like a lost connection.
type signalQueue struct {
	mu     sync.Mutex
	items  []*dbus.Signal
	closed bool
	wake   chan struct{} // capacity 1: "something changed"
}

func newSignalQueue() *signalQueue { return &signalQueue{wake: make(chan struct{}, 1)} }

// DeliverSignal implements dbus.SignalHandler; it never blocks the reader.
func (q *signalQueue) DeliverSignal(_, _ string, s *dbus.Signal) {
	q.mu.Lock()
	if !q.closed {
		q.items = append(q.items, s)
	}
	q.mu.Unlock()
	q.poke()
}

// Terminate implements dbus.Terminator; godbus calls it when the connection
// closes.
func (q *signalQueue) Terminate() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.poke()
}

func (q *signalQueue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// next returns the next signal. It returns (nil, true) when done fires and
// (nil, false) once the connection closed and the queue is drained.
func (q *signalQueue) next(done <-chan struct{}) (*dbus.Signal, bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			s := q.items[0]
			q.items[0] = nil
			q.items = q.items[1:]
			q.mu.Unlock()
			return s, true
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return nil, false
		}
		select {
		case <-q.wake:
		case <-done:
			return nil, true
		}
	}
}

// decodeEvent converts a transaction signal; unknown or malformed signals
// give nil and are skipped, so a newer daemon cannot break an older client.
func decodeEvent(s *dbus.Signal) Event {
	b := s.Body
	switch s.Name {
	case TransactionInterface + ".Message":
		var text string
		if dbus.Store(b, &text) == nil {
			return Message{Text: text}
		}
	case TransactionInterface + ".TaskBegin":
		var text string
		if dbus.Store(b, &text) == nil {
			return TaskBegin{Text: text}
		}
	case TransactionInterface + ".TaskEnd":
		var text string
		if dbus.Store(b, &text) == nil {
			return TaskEnd{Text: text}
		}
	case TransactionInterface + ".PercentProgress":
		var p PercentProgress
		if dbus.Store(b, &p.Text, &p.Percent) == nil {
			return p
		}
	case TransactionInterface + ".DownloadProgress":
		return decodeDownloadProgress(b)
	case TransactionInterface + ".SignatureProgress":
		var p SignatureProgress
		if dbus.Store(b, &p.Signature, &p.Commit) == nil {
			return p
		}
	case TransactionInterface + ".ProgressEnd":
		return ProgressEnd{}
	}
	return nil
}

func decodeDownloadProgress(b []any) Event {
	var (
		times    struct{ A, B uint64 }
		outstand struct{ A, B uint32 }
		metadata struct{ A, B, C uint32 }
		delta    struct {
			A, B, C uint32
			D       uint64
		}
		fetched struct{ A, B uint32 }
		bytes   struct{ A, B uint64 }
	)
	if dbus.Store(b, &times, &outstand, &metadata, &delta, &fetched, &bytes) != nil {
		return nil
	}
	return DownloadProgress{
		StartTime: times.A, ElapsedSecs: times.B,
		OutstandingFetches: outstand.A, OutstandingWrites: outstand.B,
		ScannedMetadata: metadata.A, MetadataFetched: metadata.B, OutstandingMetadataFetches: metadata.C,
		TotalDeltaParts: delta.A, FetchedDeltaParts: delta.B, TotalDeltaSuperblocks: delta.C, TotalDeltaPartSize: delta.D,
		Fetched: fetched.A, Requested: fetched.B,
		BytesTransferred: bytes.A, BytesPerSec: bytes.B,
	}
}
