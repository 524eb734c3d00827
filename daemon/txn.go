package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
	"github.com/sirupsen/logrus"

	"github.com/strata-os/strata/internal/p2p"
	"github.com/strata-os/strata/transactions"
)

// How long a transaction waits for its first Start before it is dropped (the
// client that asked for it evidently went away), and how long finished
// transactions keep their peers so that a late reader still sees Finished.
const (
	startTimeout  = 60 * time.Second
	lingerTimeout = 10 * time.Second
)

// request is one mutating call, converted from the wire.
type request struct {
	caller caller // from gate, which the method called before anything else
	method string
	title  string
	reboot bool // reboot into the new deployment once it is written
	run    func(ctx context.Context, p transactions.Progress) error
}

// begin starts a request's transaction server, or explains why not. The
// caller was authorized by gate; a request without that is refused, so a
// method that forgot to call gate fails closed. Only one transaction exists
// at a time; the same request again returns the running transaction's
// address, so a client that reconnects joins it.
func (d *Daemon) begin(r request) (string, *dbus.Error) {
	if !r.caller.ok {
		d.log.WithField("method", r.method).Error("mutating method did not authorize its caller")
		return "", dbus.NewError("org.freedesktop.DBus.Error.AccessDenied", []any{r.method + ": caller not authorized"})
	}
	uid := r.caller.uid
	d.mu.Lock()
	if d.rebooting {
		d.mu.Unlock()
		return "", dbus.NewError("org.freedesktop.DBus.Error.Failed", []any{"Reboot initiated, cannot start new transaction"})
	}
	if a := d.active; a != nil {
		d.mu.Unlock()
		if a.title == r.title && (a.uid == uid || uid == 0) {
			return a.address(), nil
		}
		return "", dbus.NewError(errorPrefix+"Busy", []any{fmt.Sprintf("Transaction in progress: %s\n You can cancel the current transaction with `strata cancel`", a.title)})
	}
	t, err := d.newTransaction(r, uid)
	if err != nil {
		d.mu.Unlock()
		return "", failed(err)
	}
	d.active = t
	d.mu.Unlock()
	d.publishActive()
	t.log.Info("transaction created")
	return t.address(), nil
}

// transaction is one running request: a peer-to-peer D-Bus server that clients
// connect to, start, follow and cancel.
type transaction struct {
	d        *Daemon
	method   string
	title    string
	sender   string
	uid      uint32
	reboot   bool
	run      func(ctx context.Context, p transactions.Progress) error
	listener *p2p.Listener
	log      *logrus.Entry
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{} // closed when the transaction has ended (ran or was dropped)

	mu       sync.Mutex
	peers    map[*dbus.Conn]bool
	started  bool
	finished bool
	success  bool
	errMsg   string
}

func (d *Daemon) newTransaction(r request, uid uint32) (*transaction, error) {
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	path := filepath.Join(d.cfg.RunDir, "transaction-"+hex.EncodeToString(id))
	// Only root and the caller may connect; everyone else fails authentication.
	l, err := p2p.Listen(path, func(peer uint32) bool { return peer == 0 || peer == uid })
	if err != nil {
		return nil, fmt.Errorf("creating transaction socket: %w", err)
	}
	if err := os.Chmod(path, 0o666); err != nil { // connect needs write permission; the handshake checks who
		l.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &transaction{
		d: d, method: r.method, title: r.title, sender: string(r.caller.sender), uid: uid, reboot: r.reboot, run: r.run,
		listener: l, ctx: ctx, cancel: cancel, done: make(chan struct{}), peers: map[*dbus.Conn]bool{},
		log: d.log.WithFields(logrus.Fields{"txn": r.title, "sender": r.caller.sender}),
	}
	go t.acceptLoop()
	go t.dropIfNeverStarted()
	return t, nil
}

func (t *transaction) address() string { return t.listener.Address() }

func (t *transaction) acceptLoop() {
	for {
		peer, err := t.listener.Accept(t.ctx)
		if err != nil {
			return // listener closed or transaction ended
		}
		if err := t.serve(peer); err != nil {
			t.log.WithError(err).Warn("serving transaction peer")
			peer.Conn.Close()
		}
	}
}

// serve exports the Transaction object on one peer connection, then lets the
// peer's messages in, and watches for the peer going away.
func (t *transaction) serve(peer *p2p.Peer) error {
	conn := peer.Conn
	obj := &txnObject{t: t, conn: conn}
	if err := conn.Export(obj, "/", TxnIface); err != nil {
		return err
	}
	if _, err := exportProperties(conn, "/", TxnIface, map[string]any{
		"Title":                       t.title,
		"InitiatingClientDescription": t.d.clientDescription(t.sender),
	}); err != nil {
		return err
	}
	if err := conn.Export(introspect.NewIntrospectable(node(nil, txnInterface)), "/", introspectName); err != nil {
		return err
	}
	t.mu.Lock()
	t.peers[conn] = true
	t.mu.Unlock()
	if err := peer.Start(); err != nil {
		t.peerGone(conn)
		return err
	}
	go func() {
		<-conn.Context().Done()
		t.peerGone(conn)
	}()
	return nil
}

// peerGone forgets a disconnected peer. Before Start, the last peer leaving
// drops the transaction: nothing was done, so nothing is left behind. Once
// started, the transaction runs to its end without anyone watching.
func (t *transaction) peerGone(conn *dbus.Conn) {
	t.mu.Lock()
	delete(t.peers, conn)
	abandon := !t.started && len(t.peers) == 0
	t.mu.Unlock()
	if abandon {
		t.drop("client disconnected before Start")
	}
}

func (t *transaction) dropIfNeverStarted() {
	select {
	case <-time.After(startTimeout):
		t.drop("not started within " + startTimeout.String())
	case <-t.done:
	}
}

// drop ends a transaction that was never started.
func (t *transaction) drop(why string) {
	t.mu.Lock()
	if t.started || t.finished {
		t.mu.Unlock()
		return
	}
	t.finished = true
	t.mu.Unlock()
	t.log.WithField("why", why).Info("transaction dropped")
	t.end()
}

// start runs the transaction once; later calls report whether it was this one.
func (t *transaction) start() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.started || t.finished {
		return false
	}
	t.started = true
	go t.execute()
	return true
}

func (t *transaction) execute() {
	t.log.Info("transaction started")
	err := t.run(t.ctx, t)
	var reboot []string
	if err == nil && t.reboot {
		reboot, err = t.d.prepareReboot(t)
	}
	t.mu.Lock()
	t.finished = true
	t.success = err == nil
	if err != nil {
		t.errMsg = err.Error()
		if errors.Is(err, context.Canceled) {
			t.errMsg = "Transaction was cancelled"
		}
	}
	t.mu.Unlock()
	if err != nil {
		t.log.WithError(err).Warn("transaction failed")
	} else {
		t.log.Info("transaction succeeded")
	}
	// Refresh before Finished so a client that reads properties on Finished
	// already sees the new state.
	if err := t.d.refresh(context.Background(), true); err != nil {
		t.log.WithError(err).Warn("refreshing state after transaction")
	}
	t.emit("Finished", t.success, t.errMsg)
	t.end()
	releaseMemory()
	if reboot != nil {
		t.d.reboot(reboot)
	}
}

// end releases the daemon for the next transaction and closes the server once
// its peers had their chance to read Finished.
func (t *transaction) end() {
	t.d.mu.Lock()
	if t.d.active == t {
		t.d.active = nil
	}
	t.d.lastActivity = time.Now()
	t.d.mu.Unlock()
	t.d.publishActive()
	t.listener.Close()
	close(t.done)
	t.cancel()
	go func() {
		deadline := time.After(lingerTimeout)
		for {
			t.mu.Lock()
			n := len(t.peers)
			t.mu.Unlock()
			if n == 0 {
				return
			}
			select {
			case <-deadline:
				t.mu.Lock()
				for c := range t.peers {
					c.Close()
				}
				t.mu.Unlock()
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
}

// emit sends a Transaction signal to every connected peer.
func (t *transaction) emit(name string, args ...any) {
	t.mu.Lock()
	peers := make([]*dbus.Conn, 0, len(t.peers))
	for c := range t.peers {
		peers = append(peers, c)
	}
	t.mu.Unlock()
	for _, c := range peers {
		if err := c.Emit("/", TxnIface+"."+name, args...); err != nil {
			t.log.WithError(err).Debug("emitting to a peer")
		}
	}
}

// The transactions.Progress implementation: progress becomes signals.

func (t *transaction) Message(text string)   { t.log.Info(text); t.emit("Message", text) }
func (t *transaction) TaskBegin(text string) { t.log.Info(text); t.emit("TaskBegin", text) }
func (t *transaction) TaskEnd(text string)   { t.emit("TaskEnd", text) }
func (t *transaction) End()                  { t.emit("ProgressEnd") }
func (t *transaction) Percent(text string, percent uint32) {
	t.emit("PercentProgress", text, percent)
}

// Wire shapes of DownloadProgress, field by field as rpm-ostree sends them.
type (
	pair64  struct{ A, B uint64 }
	pair32  struct{ A, B uint32 }
	triple  struct{ A, B, C uint32 }
	deltaPr struct {
		TotalParts, FetchedParts, TotalSuperblocks uint32
		TotalSize                                  uint64
	}
)

func (t *transaction) Download(p transactions.DownloadProgress) {
	start := uint64(0)
	elapsed := uint64(0)
	if !p.StartTime.IsZero() {
		start = uint64(p.StartTime.Unix())
		elapsed = uint64(time.Since(p.StartTime).Seconds())
	}
	rate := uint64(0)
	if elapsed > 0 {
		rate = p.BytesTransferred / elapsed
	}
	t.emit("DownloadProgress",
		pair64{start, elapsed},
		pair32{p.OutstandingFetches, 0},
		triple{p.ScannedMetadata, 0, 0},
		deltaPr{p.TotalDeltaParts, p.FetchedDeltaParts, 0, 0},
		pair32{p.FetchedObjects, p.RequestedObjects},
		pair64{p.BytesTransferred, rate},
	)
}

// txnObject serves org.projectatomic.rpmostree1.Transaction on one peer.
type txnObject struct {
	t    *transaction
	conn *dbus.Conn
}

// Start runs the transaction. A second Start (another client attaching) returns
// false; if the transaction already ended, that client gets Finished at once.
func (o *txnObject) Start() (bool, *dbus.Error) {
	if o.t.start() {
		return true, nil
	}
	o.t.mu.Lock()
	finished, success, msg := o.t.finished && o.t.started, o.t.success, o.t.errMsg
	o.t.mu.Unlock()
	if finished {
		go o.conn.Emit("/", TxnIface+".Finished", success, msg)
	}
	return false, nil
}

// Cancel stops the transaction at the next safe point. Only root and the caller
// can reach this (the socket's handshake refuses everyone else).
func (o *txnObject) Cancel() *dbus.Error {
	o.t.log.Info("cancel requested")
	o.t.mu.Lock()
	started := o.t.started
	o.t.mu.Unlock()
	if !started {
		o.t.drop("cancelled before Start")
		return nil
	}
	o.t.cancel()
	return nil
}

// prepareReboot decides, at the end of a transaction that asked for a
// reboot, whether and how to reboot; the reboot itself (Daemon.reboot) is
// requested only after Finished went out, as rpm-ostree does, so that the
// client sees its transaction succeed before shutdown stops the daemon. From
// here on no new transaction may start: the host is going down. A host that
// is not booted from this sysroot (a test or image-build sysroot) is never
// rebooted: that would reboot some other system.
func (d *Daemon) prepareReboot(p transactions.Progress) ([]string, error) {
	st, err := d.engine.State(context.Background(), true)
	if err != nil {
		return nil, err
	}
	if st.Booted() == nil {
		p.Message("Not rebooting: this host is not booted from " + d.cfg.Sysroot + ".")
		return nil, nil
	}
	argv := d.cfg.RebootCommand
	if len(argv) == 0 {
		argv = defaultRebootCommand()
	}
	// The one failure that can still be reported to the client.
	if _, err := exec.LookPath(argv[0]); err != nil {
		return nil, fmt.Errorf("cannot reboot: %w; the deployment is written, reboot by hand", err)
	}
	d.mu.Lock()
	d.rebooting = true
	d.mu.Unlock()
	p.Message("Rebooting.")
	return argv, nil
}

// defaultRebootCommand is how a transaction's reboot is requested on a
// real host, as rpm-ostree does it: systemctl queues the reboot job with
// systemd (through logind when it runs) and returns; systemd then stops
// stratad with everything else.
func defaultRebootCommand() []string { return []string{"systemctl", "reboot"} }

// reboot runs the reboot command. Its failure can no longer reach the
// client (Finished was sent), so it is logged loudly and the daemon takes
// transactions again: the host did not go down.
func (d *Daemon) reboot(argv []string) {
	d.log.WithField("command", strings.Join(argv, " ")).Info("initiating the reboot requested by the transaction")
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		d.log.WithError(err).Errorf("requesting a reboot (%s) failed: %s; reboot by hand to use the new deployment", strings.Join(argv, " "), strings.TrimSpace(string(out)))
		d.mu.Lock()
		d.rebooting = false
		d.mu.Unlock()
	}
}
