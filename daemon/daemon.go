// Package daemon is stratad's D-Bus face: it owns the bus name
// org.projectatomic.rpmostree1, the Sysroot and OS objects, the client registry,
// authorization, and the peer-to-peer servers of running transactions.
//
// It converts between the wire and Go and checks who may do what; the work
// itself belongs to package transactions. It never sees libostree or the
// rpmdb: host state arrives as transactions.State (converted to a{sv} dicts
// in snapshot.go), package lists and diffs as transactions' types, and
// progress as transactions.Progress calls turned into signals.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	ossignal "os/signal"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
	"github.com/sirupsen/logrus"

	"github.com/strata-os/strata/internal/cmem"
	"github.com/strata-os/strata/transactions"
)

// Config is what stratad's command line decides.
type Config struct {
	Sysroot string // the OSTree sysroot this daemon owns ("/" on a real host)
	RunDir  string // where transaction sockets live
	Log     *logrus.Logger
	// PollInterval is how often the sysroot is checked for changes made by other
	// tools (ostree admin); 0 means 2 s.
	PollInterval time.Duration
	// ContainersRoot is where container image configuration is read from
	// ("" is "/": /etc/containers, /etc/ostree); see transactions.Config.
	ContainersRoot string
	// ImageProxy is the image helper to run ("": next to stratad); see
	// transactions.Config.
	ImageProxy string
	// ConfigPath is the daemon's configuration file ("" is
	// DefaultConfigPath), read at start and on Reload/ReloadConfig.
	ConfigPath string
	// PolkitTimeout bounds each polkit question (0 is DefaultPolkitTimeout).
	PolkitTimeout time.Duration
	// RebootCommand is what reboots the host when a transaction asks for
	// it (the reboot option, FinalizeDeployment); nil is `systemctl
	// reboot`. Tests run something they can observe instead.
	RebootCommand []string
}

// Daemon is the state of a running stratad. All of it hangs off this struct.
type Daemon struct {
	cfg    Config
	conn   *dbus.Conn
	engine *transactions.Engine
	log    *logrus.Entry

	mu           sync.Mutex
	publishMu    sync.Mutex   // see publishActive
	active       *transaction // the one transaction that may run, nil when idle
	rebooting    bool         // a transaction asked for a reboot: take no new ones
	clients      map[string]string
	hostCfg      HostConfig
	lastActivity time.Time // last client or transaction coming or going
	defaultOS    string    // stateroot of the booted (else default) deployment
	sysrootProps *properties
	osObjects    map[string]*osObject // by stateroot name
}

// Run serves the API on the system bus until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 2 * time.Second
	}
	if cfg.ConfigPath == "" {
		cfg.ConfigPath = DefaultConfigPath
	}
	log := logrus.NewEntry(cfg.Log)
	// Two arenas are plenty for one transaction at a time (memstats.go).
	if err := cmem.LimitArenas(2); err != nil {
		log.WithError(err).Warn("keeping glibc's default malloc arenas")
	}
	if err := os.MkdirAll(cfg.RunDir, 0o755); err != nil {
		return fmt.Errorf("creating run directory: %w", err)
	}
	engine, err := transactions.Open(ctx, cfg.Sysroot, transactions.Config{ContainersRoot: cfg.ContainersRoot, ImageProxy: cfg.ImageProxy}, log)
	if err != nil {
		return err
	}
	defer engine.Close()

	conn, err := connectSystemBus()
	if err != nil {
		return fmt.Errorf("connecting to the system bus: %w", err)
	}
	defer conn.Close()

	d := &Daemon{cfg: cfg, conn: conn, engine: engine, log: log,
		clients: map[string]string{}, osObjects: map[string]*osObject{}}
	if err := d.exportSysroot(); err != nil {
		return err
	}
	if err := d.exportObjectManager(); err != nil {
		return err
	}
	d.loadHostConfig()
	d.loadLastRun()
	if err := d.refresh(ctx, true); err != nil {
		return err
	}
	reply, err := conn.RequestName(BusName, dbus.NameFlagDoNotQueue)
	if err != nil {
		return fmt.Errorf("requesting bus name %s: %w", BusName, err)
	}
	if reply != dbus.RequestNameReplyPrimaryOwner {
		return fmt.Errorf("bus name %s is already owned: is another stratad or rpm-ostreed running?", BusName)
	}
	log.WithFields(logrus.Fields{"sysroot": cfg.Sysroot, "bus": BusName}).Info("serving")

	d.watchClients()
	ticker := time.NewTicker(cfg.PollInterval)
	defer ticker.Stop()
	// SIGUSR1 asks for the daemon's footprint in the log (memstats.go).
	usr1 := make(chan os.Signal, 1)
	ossignal.Notify(usr1, syscall.SIGUSR1)
	defer ossignal.Stop(usr1)
	statsSeq := 0
	for {
		select {
		case <-usr1:
			// seq tells a reader which answer is the one to its signal.
			statsSeq++
			log.WithFields(runtimeStats()).WithField("seq", statsSeq).Info("runtime stats")
		case <-ctx.Done():
			d.shutdown()
			return nil
		case <-conn.Context().Done():
			return errors.New("lost the system bus connection")
		case <-ticker.C:
			if d.idle() {
				log.Info("idle: no client and no transaction; exiting (IdleExitTimeout)")
				return nil
			}
			if err := d.refresh(ctx, false); err != nil && !errors.Is(err, transactions.ErrBusy) {
				log.WithError(err).Warn("refreshing state")
			}
		}
	}
}

// loadHostConfig (re)reads the configuration file and publishes what it
// says; it returns what in the file could not be used (already logged).
func (d *Daemon) loadHostConfig() []string {
	hc, problems := ReadHostConfig(d.cfg.ConfigPath, d.log)
	d.mu.Lock()
	d.hostCfg = hc
	d.lastActivity = time.Now()
	d.mu.Unlock()
	d.sysrootProps.set(SysrootIface, "AutomaticUpdatePolicy", hc.AutomaticUpdatePolicy)
	return problems
}

// idle says whether the daemon has had no client and no transaction for
// IdleExitTimeout. A client that is still registered keeps it alive, as in
// rpm-ostree.
func (d *Daemon) idle() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	timeout := d.hostCfg.IdleExitTimeout
	return timeout > 0 && d.active == nil && len(d.clients) == 0 && time.Since(d.lastActivity) >= timeout
}

// shutdown cancels a running transaction and waits a bounded time for it to end,
// so that a stop request never cuts a deployment write in half.
func (d *Daemon) shutdown() {
	d.mu.Lock()
	t := d.active
	d.mu.Unlock()
	if t == nil {
		return
	}
	t.cancel()
	select {
	case <-t.done:
	case <-time.After(30 * time.Second):
		d.log.Warn("transaction still running at shutdown")
	}
}

func (d *Daemon) exportSysroot() error {
	s := &sysrootObject{d: d}
	if err := d.conn.Export(s, SysrootPath, SysrootIface); err != nil {
		return err
	}
	props, err := exportProperties(d.conn, SysrootPath, SysrootIface, map[string]any{
		"Booted":                dbus.ObjectPath("/"),
		"Path":                  d.cfg.Sysroot,
		"ActiveTransaction":     activeTransaction{},
		"ActiveTransactionPath": "",
		"Deployments":           []map[string]dbus.Variant{},
		"AutomaticUpdatePolicy": "none",
		"LastAutomaticUpdate":   map[string]dbus.Variant{},
	})
	if err != nil {
		return err
	}
	d.sysrootProps = props
	if err := d.exportIntrospection(SysrootPath, node(nil, sysrootInterface)); err != nil {
		return err
	}
	return d.exportTree()
}

// exportTree makes the path prefixes introspectable so `busctl tree` finds us.
func (d *Daemon) exportTree() error {
	d.mu.Lock()
	children := []string{"Sysroot"}
	for name := range d.osObjects {
		children = append(children, objectName(name))
	}
	d.mu.Unlock()
	sort.Strings(children)
	for path, kids := range map[string][]string{
		"/":                  {"org"},
		"/org":               {"projectatomic"},
		"/org/projectatomic": {"rpmostree1"},
	} {
		if err := d.exportIntrospection(dbus.ObjectPath(path), node(kids)); err != nil {
			return err
		}
	}
	base := node(children)
	base.Interfaces = []introspect.Interface{objectManagerInterface} // no properties there
	return d.exportIntrospection(basePath, base)
}

func (d *Daemon) exportIntrospection(path dbus.ObjectPath, n *introspect.Node) error {
	return d.conn.Export(introspect.NewIntrospectable(n), path, introspectName)
}

// activeTransaction is the ActiveTransaction property: (method, sender, path).
type activeTransaction struct {
	Method, Sender, Path string
}

// refresh reloads the sysroot and updates every property, emitting
// PropertiesChanged only for values that changed. With wait false it gives up
// while a transaction runs (the transaction refreshes when it ends).
func (d *Daemon) refresh(ctx context.Context, wait bool) error {
	st, err := d.engine.State(ctx, wait)
	if err != nil {
		return err
	}
	snap := wireSnapshot(st)
	for _, name := range snap.stateroots {
		if err := d.ensureOS(name); err != nil {
			return err
		}
	}
	d.sysrootProps.set(SysrootIface, "Deployments", snap.deployments)
	d.sysrootProps.set(SysrootIface, "Booted", d.osPath(snap.bootedOS))
	d.mu.Lock()
	d.defaultOS = snap.defaultOS
	objects := make([]*osObject, 0, len(d.osObjects))
	for _, o := range d.osObjects {
		objects = append(objects, o)
	}
	d.mu.Unlock()
	for _, o := range objects {
		o.update(snap.perOS[o.name])
	}
	return nil
}

func (d *Daemon) osPath(stateroot string) dbus.ObjectPath {
	if stateroot == "" {
		return "/"
	}
	return dbus.ObjectPath(basePath + "/" + objectName(stateroot))
}

// objectName maps a stateroot to an object path element: D-Bus allows only
// [A-Za-z0-9_] there, so everything else becomes '_'.
func objectName(stateroot string) string {
	b := []byte(stateroot)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// publishActive shows the current transaction (or idle) in the Sysroot
// properties. publishMu orders publications, so the last one always shows the
// latest state even when a transaction ends as the next one begins.
func (d *Daemon) publishActive() {
	d.publishMu.Lock()
	defer d.publishMu.Unlock()
	d.mu.Lock()
	t := d.active
	d.mu.Unlock()
	at, addr := activeTransaction{}, ""
	if t != nil {
		at = activeTransaction{Method: t.method, Sender: t.sender, Path: "/"}
		addr = t.address()
	}
	d.sysrootProps.set(SysrootIface, "ActiveTransaction", at)
	d.sysrootProps.set(SysrootIface, "ActiveTransactionPath", addr)
}
