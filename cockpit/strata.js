/*
 * strata's Cockpit page. It owns nothing on the host: everything it shows and
 * does goes through the update daemon's D-Bus API (org.projectatomic.rpmostree1,
 * the API every rpm-ostree client speaks), on the system bus through Cockpit's
 * bridge. Each change is a transaction: the OS method returns a peer-to-peer
 * address, the page connects to it, subscribes to the progress signals and
 * calls Start. The page never polls: the daemon's PropertiesChanged signals
 * (relayed by the bridge to the proxies below) redraw it, whoever made the change.
 *
 * Plain browser JavaScript, no build step: cockpit.js comes from Cockpit.
 */
"use strict";

const BUS_NAME = "org.projectatomic.rpmostree1";
const SYSROOT_PATH = "/org/projectatomic/rpmostree1/Sysroot";
const SYSROOT_IFACE = BUS_NAME + ".Sysroot";
const OS_IFACE = BUS_NAME + ".OS";
const TXN_IFACE = BUS_NAME + ".Transaction";
const ACCESS_DENIED = "org.freedesktop.DBus.Error.AccessDenied";

// The type of each rpm diff entry, as rpm-ostree numbers them (from 0).
const DIFF_TYPES = { 0: "added", 1: "removed", 2: "upgraded", 3: "downgraded" };

// What each Clean up choice asks the daemon to remove.
const CLEANUP_ELEMENTS = {
    cache: ["base", "repomd"],
    rollback: ["rollback-deploy"],
    pending: ["pending-deploy"],
};

const $ = id => document.getElementById(id);

// A value from an a{sv} dictionary as Cockpit hands it over ({t, v} variants).
function field(dict, key, fallback) {
    const x = dict ? dict[key] : undefined;
    return x === undefined ? fallback : x.v;
}

function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, val] of Object.entries(attrs || {})) {
        if (k === "class")
            node.className = val;
        else if (k.startsWith("data-"))
            node.setAttribute(k, val);
        else
            node[k] = val;
    }
    for (const c of children) {
        if (c !== null && c !== undefined)
            node.append(c);
    }
    return node;
}

function formatTime(seconds) {
    if (!seconds)
        return "unknown";
    return new Date(seconds * 1000).toLocaleString();
}

function shortChecksum(c) {
    return c ? c.slice(0, 12) : "";
}

// The error a failed D-Bus call or transaction is shown with: a title that
// says what failed and text that says why and what to do.
function describeError(action, ex) {
    if (ex && ex.name === ACCESS_DENIED) {
        return {
            title: "Not authorized to " + action,
            text: (ex.message || "access denied") +
                "\nLog in with administrative access (or ask an administrator) to change this host.",
            kind: "unauthorized",
        };
    }
    if (ex && ex.problem === "access-denied") {
        return { title: "Not authorized to " + action, text: ex.message || "access denied", kind: "unauthorized" };
    }
    const msg = ex ? (ex.message || ex.problem || String(ex)) : "unknown error";
    return { title: "Could not " + action, text: msg, kind: "failed" };
}

function showError(err) {
    $("error-title").textContent = err.title;
    $("error-text").textContent = err.text;
    $("error").dataset.kind = err.kind || "failed";
    $("error").hidden = false;
}

function clearError() {
    $("error").hidden = true;
    $("error-title").textContent = "";
    $("error-text").textContent = "";
}

function showNotRunning() {
    $("app").dataset.state = "no-daemon";
    showError({
        title: "The update daemon is not running",
        text: "Nothing answers as " + BUS_NAME + " on the system bus. Start it with: systemctl start stratad",
    });
}

// Page is the page's whole state: one value made at load, no globals.
class Page {
    constructor() {
        this.client = cockpit.dbus(BUS_NAME, { bus: "system" });
        this.sysroot = this.client.proxy(SYSROOT_IFACE, SYSROOT_PATH);
        this.os = null; // the proxy of the OS the page acts on (GetOS(""))
        this.running = null; // our own transaction: {title, conn}
        this.seen = new Set(); // transaction addresses already followed (ours or attached)
        this.attached = null; // another client's transaction we follow: {address, conn}
        this.kargsGeneration = 0;
        this.deploymentsKey = null; // what the deployment list was drawn from
        this.updateKey = null; // what the update section was drawn from
        this.firstShown = false;
    }

    async start() {
        this.wire();
        this.client.addEventListener("close", (ev, opts) => {
            if (opts && opts.problem === "not-found") {
                showNotRunning();
                return;
            }
            $("app").dataset.state = "disconnected";
            showError({
                title: "Lost the connection to the update daemon",
                text: (opts && (opts.message || opts.problem)) ||
                    "The bus connection closed. Reload the page once stratad is running (systemctl start stratad).",
            });
        });
        this.sysroot.addEventListener("changed", () => this.render());
        let waitError = null;
        try {
            await this.sysroot.wait();
        } catch (ex) {
            waitError = ex;
        }
        if (waitError && waitError.problem !== "not-found" &&
            waitError.name !== "org.freedesktop.DBus.Error.ServiceUnknown") {
            showError(describeError("reach the update daemon", waitError));
            return;
        }
        if (waitError || !this.sysroot.valid) {
            showNotRunning();
            return;
        }
        this.render();
        // Tell the daemon a client is watching (it then stays up while the
        // page is open); not being allowed to is no reason to stop.
        this.client.call(SYSROOT_PATH, SYSROOT_IFACE, "RegisterClient",
                         [{ id: { t: "s", v: "cockpit" } }], { type: "a{sv}" })
                .catch(ex => console.warn("RegisterClient:", ex));
        try {
            const [osPath] = await this.client.call(SYSROOT_PATH, SYSROOT_IFACE, "GetOS", [""], { type: "s" });
            this.os = this.client.proxy(OS_IFACE, osPath);
            this.os.addEventListener("changed", () => this.render());
            await this.os.wait();
        } catch (ex) {
            showError(describeError("find the operating system's object", ex));
            return;
        }
        this.render();
    }

    wire() {
        $("error-close").addEventListener("click", clearError);
        $("check").addEventListener("click", () =>
            this.transaction("check for updates", os => os.call("DownloadUpdateRpmDiff", [], "")));
        $("upgrade").addEventListener("click", () =>
            this.transaction("update", os => os.call("Upgrade", [{}], "a{sv}")));
        $("rollback").addEventListener("click", () =>
            this.transaction("roll back", os => os.call("Rollback", [{}], "a{sv}")));
        $("cleanup").addEventListener("click", () => {
            const what = $("cleanup-what").value;
            this.transaction("clean up", os => os.call("Cleanup", [CLEANUP_ELEMENTS[what]], "as"));
        });
        $("update-diff-load").addEventListener("click", () =>
            this.transaction("download the package list", os => os.call("DownloadUpdateRpmDiff", [], "")));
        $("install-form").addEventListener("submit", ev => {
            ev.preventDefault();
            const names = $("install-name").value.split(/[\s,]+/).filter(Boolean);
            if (names.length === 0) {
                showError({ title: "Nothing to install", text: "Type the names of the packages to install." });
                return;
            }
            this.transaction("install " + names.join(", "),
                             os => os.call("PkgChange", [{}, names, []], "a{sv}asas"))
                    .then(ok => { if (ok) $("install-name").value = "" });
        });
        $("rebase-form").addEventListener("submit", ev => {
            ev.preventDefault();
            const target = $("rebase-target").value.trim();
            if (!target) {
                showError({ title: "Nothing to rebase to", text: "Type a remote:ref or a container image reference." });
                return;
            }
            this.transaction("rebase to " + target, os => os.call("Rebase", [{}, target, []], "a{sv}sas"));
        });
        $("deployments").addEventListener("click", ev => {
            const pkg = ev.target.dataset.uninstall;
            if (pkg)
                this.transaction("uninstall " + pkg, os => os.call("PkgChange", [{}, [], [pkg]], "a{sv}asas"));
        });
        $("cancel").addEventListener("click", () => {
            if (this.running)
                this.running.conn.call("/", TXN_IFACE, "Cancel", [], { type: "" })
                        .catch(ex => showError(describeError("cancel", ex)));
        });
    }

    // osCaller wraps calls on the OS object with their signatures, so the
    // bridge need not introspect first.
    osCaller() {
        const path = this.os.path;
        return {
            call: (method, args, type) => this.client.call(path, OS_IFACE, method, args, { type }),
        };
    }

    // transaction runs one change: begin(os) calls the OS method that returns
    // the transaction's address; the page then follows it to Finished. It
    // resolves to whether the transaction succeeded, and shows why not.
    async transaction(action, begin) {
        if (this.running || !this.os)
            return false;
        clearError();
        this.running = { title: action, conn: null };
        this.showProgress(action);
        this.render();
        try {
            const [address] = await begin(this.osCaller());
            this.seen.add(address);
            return await this.follow(action, address, conn => { this.running.conn = conn });
        } catch (ex) {
            const err = describeError(action, ex);
            showError(err);
            this.endProgress(false, err.title);
            // Refused before anything ran: the error says it all.
            if (!this.running.conn)
                $("progress").hidden = true;
            return false;
        } finally {
            this.running = null;
            this.render();
        }
    }

    // attach follows a transaction another client (a terminal, another
    // browser) runs, so its progress shows here too. Start on a running
    // transaction only subscribes; a user who may not connect to it (the
    // daemon lets only root and its initiator in) just sees "Busy".
    attach(address, method) {
        this.seen.add(address);
        const action = method + " (started by another client)";
        this.attached = { address };
        this.showProgress(action);
        $("progress").dataset.attached = "true";
        $("cancel").hidden = true;
        this.follow(action, address, conn => {
            this.attached.conn = conn;
            // The transaction's own title says more than the method name.
            conn.call("/", "org.freedesktop.DBus.Properties", "Get", [TXN_IFACE, "Title"], { type: "ss" })
                    .then(([title]) => {
                        if (title.v && $("progress").dataset.result === "running")
                            $("progress-title").textContent = "Another client: " + title.v + "…";
                    })
                    .catch(() => {});
        })
                .catch(ex => {
                    if (ex.problem) {
                        // Not allowed in, or already gone: nothing to show.
                        $("progress").hidden = true;
                        return;
                    }
                    showError({ title: action + " failed", text: ex.message });
                    this.endProgress(false, action + " failed");
                })
                .finally(() => {
                    this.attached = null;
                    this.render();
                });
    }

    // follow connects to a transaction's own server, subscribes to its
    // signals, starts it (or, when it runs already, attaches) and waits for
    // Finished. connected receives the connection, for Cancel.
    follow(action, address, connected) {
        const conn = cockpit.dbus(null, { bus: "none", address });
        connected(conn);
        return new Promise((resolve, reject) => {
            let done = false;
            const finish = (ok, why) => {
                if (done)
                    return;
                done = true;
                sub.remove();
                conn.close();
                if (ok) {
                    this.endProgress(true, "Finished: " + action);
                    resolve(true);
                } else {
                    reject({ message: why || "the transaction failed" });
                }
            };
            const sub = conn.subscribe({ path: "/", interface: TXN_IFACE }, (path, iface, signal, args) => {
                switch (signal) {
                case "Message":
                case "TaskBegin":
                    this.log(args[0]);
                    break;
                case "TaskEnd":
                    this.log(args[0]);
                    break;
                case "PercentProgress":
                    this.percent(args[0], args[1]);
                    break;
                case "DownloadProgress": {
                    const [fetched, requested] = args[2] || [];
                    if (requested)
                        this.percent("Receiving objects: " + fetched + "/" + requested,
                                     Math.floor(100 * fetched / requested));
                    break;
                }
                case "ProgressEnd":
                    $("progress-bar").removeAttribute("value");
                    $("progress-percent").textContent = "";
                    break;
                case "Finished":
                    finish(args[0], args[1]);
                    break;
                }
            });
            conn.addEventListener("close", (ev, opts) => {
                if (!done) {
                    done = true;
                    reject({ message: "the transaction's connection closed before it finished" +
                             (opts && opts.problem ? " (" + opts.problem + ")" : ""),
                             problem: (opts && opts.problem) || "disconnected" });
                }
            });
            conn.call("/", TXN_IFACE, "Start", [], { type: "" }).catch(ex => {
                if (!done) {
                    done = true;
                    sub.remove();
                    conn.close();
                    reject(ex);
                }
            });
        });
    }

    showProgress(action) {
        $("progress").hidden = false;
        delete $("progress").dataset.attached;
        $("progress").dataset.result = "running";
        $("progress-title").textContent = action.charAt(0).toUpperCase() + action.slice(1) + "…";
        $("progress-percent").textContent = "";
        $("progress-bar").removeAttribute("value");
        $("progress-bar").hidden = false;
        $("progress-log").textContent = "";
        $("cancel").hidden = false;
    }

    endProgress(ok, title) {
        $("progress").dataset.result = ok ? "success" : "failed";
        $("progress-title").textContent = title;
        $("progress-bar").hidden = true;
        $("progress-percent").textContent = "";
        $("cancel").hidden = true;
    }

    log(text) {
        if (!text)
            return;
        const pre = $("progress-log");
        pre.textContent += (pre.textContent ? "\n" : "") + text;
        pre.scrollTop = pre.scrollHeight;
    }

    percent(text, pct) {
        $("progress-bar").value = pct;
        $("progress-percent").textContent = (text ? text + ": " : "") + pct + "%";
    }

    // render redraws from the proxies' current values; cheap parts always,
    // the deployment list and the update only when their data changed.
    render() {
        const sr = this.sysroot;
        if (!sr.valid)
            return;
        const active = sr.ActiveTransaction || ["", "", ""];
        const busyElsewhere = !this.running && active[0] !== "";
        const address = sr.ActiveTransactionPath || "";
        if (busyElsewhere && address && !this.attached && !this.seen.has(address))
            this.attach(address, active[0]);
        $("daemon-state").textContent = this.running
            ? "Working: " + this.running.title
            : busyElsewhere ? "Busy: another client runs " + active[0] : "Idle";
        $("app").dataset.busy = (this.running || busyElsewhere) ? "true" : "false";
        for (const id of ["check", "upgrade", "rollback", "cleanup", "install", "rebase", "update-diff-load"])
            $(id).disabled = !!this.running || busyElsewhere || !this.os;
        const policy = sr.AutomaticUpdatePolicy || "none";
        $("policy").textContent = "Automatic updates: " + policy;
        $("policy").dataset.policy = policy;

        const deployments = sr.Deployments || [];
        const rollback = this.os ? field(this.os.RollbackDeployment, "id", "") : "";
        const key = JSON.stringify([deployments, rollback, this.os ? this.os.path : ""]);
        if (key !== this.deploymentsKey) {
            this.deploymentsKey = key;
            this.renderDeployments(deployments, rollback);
        }
        if (this.os)
            this.renderUpdate();
    }

    renderDeployments(deployments, rollbackId) {
        const box = $("deployments");
        box.replaceChildren();
        if (deployments.length === 0)
            box.append(el("p", { class: "muted" }, "No deployments."));
        const bootedIndex = deployments.findIndex(d => field(d, "booted", false));
        const osName = this.os ? this.os.Name : null;
        let firstOfOS = null;
        deployments.forEach((d, i) => {
            const id = field(d, "id", "");
            const roles = [];
            if (field(d, "booted", false))
                roles.push("booted");
            if (field(d, "staged", false))
                roles.push("staged");
            else if (bootedIndex > 0 && i < bootedIndex)
                roles.push("pending");
            if (bootedIndex < 0 && i === 0)
                roles.push("default");
            if (id && id === rollbackId)
                roles.push("rollback");
            if (field(d, "pinned", false))
                roles.push("pinned");
            const mine = osName === null || field(d, "osname", "") === osName;
            const editable = mine && firstOfOS === null;
            if (editable)
                firstOfOS = id;
            box.append(this.deploymentCard(d, roles, editable));
        });
        if (!this.firstShown && deployments.length > 0) {
            this.firstShown = true;
            // For the browser test's timing: when the list first appeared,
            // in ms since the navigation started.
            $("app").dataset.shownAfterMs = String(Math.round(performance.now()));
        }
        $("app").dataset.state = "ready";
        this.loadKargs(deployments);
    }

    deploymentCard(d, roles, editable) {
        const id = field(d, "id", "");
        const card = el("article", { class: "deployment", "data-id": id, "data-roles": roles.join(" ") });
        const badges = el("span", { class: "badges" });
        for (const r of roles)
            badges.append(el("span", { class: "badge badge-" + r }, r.charAt(0).toUpperCase() + r.slice(1)));
        const version = field(d, "version", "");
        const checksum = field(d, "checksum", "");
        card.append(el("header", {}, el("h3", {}, version || shortChecksum(checksum)), badges));

        const facts = el("dl", { class: "facts" });
        const fact = (label, cls, value) => {
            if (value === null || value === undefined || value === "")
                return;
            facts.append(el("dt", {}, label), el("dd", { class: cls }, value));
        };
        const image = field(d, "container-image-reference", "");
        if (image) {
            fact("Image", "origin", image);
            fact("Digest", "digest mono", field(d, "container-image-reference-digest", ""));
        } else {
            fact("Origin", "origin", field(d, "origin", ""));
        }
        fact("Version", "version", version || "none");
        fact("Timestamp", "timestamp", formatTime(field(d, "timestamp", 0)));
        fact("Commit", "checksum mono", checksum);
        const base = field(d, "base-checksum", "");
        if (base)
            fact("Base commit", "base mono", base);

        const layered = field(d, "requested-packages", []).concat(
            field(d, "requested-local-packages", []));
        if (layered.length > 0) {
            const dd = el("span", { class: "pkgs" });
            for (const p of layered) {
                const item = el("span", { class: "pkg", "data-pkg": p }, p);
                if (editable) {
                    item.append(el("button", { type: "button", class: "small uninstall", "data-uninstall": p,
                                               title: "Remove " + p + " from the next deployment" }, "Remove"));
                }
                dd.append(item);
            }
            fact("Layered packages", "layered", dd);
        }
        const removed = field(d, "requested-base-removals", []);
        if (removed.length > 0)
            fact("Removed base packages", "removed", removed.join(", "));
        const replaced = field(d, "requested-base-local-replacements", []);
        if (replaced.length > 0)
            fact("Replaced base packages", "replaced", replaced.join(", "));
        facts.append(el("dt", {}, "Kernel arguments"), el("dd", { class: "kargs mono" }, "…"));
        card.append(facts);
        return card;
    }

    // loadKargs fills each card's kernel arguments (they are not part of
    // the deployment dictionary). A newer list supersedes older answers.
    loadKargs(deployments) {
        if (!this.os)
            return;
        const generation = ++this.kargsGeneration;
        for (const d of deployments) {
            const id = field(d, "id", "");
            this.client.call(this.os.path, OS_IFACE, "GetDeploymentBootConfig", [id, false], { type: "sb" })
                    .then(([conf]) => {
                        if (generation !== this.kargsGeneration)
                            return;
                        const dd = document.querySelector(`.deployment[data-id="${CSS.escape(id)}"] .kargs`);
                        if (dd)
                            dd.textContent = field(conf, "options", "") || "none";
                    })
                    .catch(ex => {
                        const dd = document.querySelector(`.deployment[data-id="${CSS.escape(id)}"] .kargs`);
                        if (dd && generation === this.kargsGeneration)
                            dd.textContent = "unknown (" + ex.message + ")";
                    });
        }
    }

    renderUpdate() {
        const cu = this.os.CachedUpdate || {};
        const hasDiff = !!this.os.HasCachedUpdateRpmDiff;
        const def = this.os.DefaultDeployment || {};
        const deployed = [field(def, "checksum", ""), field(def, "base-checksum", "")];
        const key = JSON.stringify([cu, hasDiff, deployed]);
        if (key === this.updateKey)
            return;
        this.updateKey = key;
        const checksum = field(cu, "checksum", "");
        $("update").dataset.available = checksum ? "true" : "false";
        $("update-none").hidden = !!checksum;
        $("update-info").hidden = !checksum;
        if (!checksum)
            return;
        $("update-version").textContent = field(cu, "version", "") || "none";
        $("update-timestamp").textContent = formatTime(field(cu, "timestamp", 0));
        $("update-origin").textContent = field(cu, "container-image-reference", "") || field(cu, "origin", "");
        $("update-checksum").textContent = checksum;
        // A staged or pending update is still the cached one until it boots.
        $("update-deployed").hidden = !deployed.includes(checksum);
        $("update-diff").hidden = true;
        $("update-diff-load").hidden = true;
        this.client.call(this.os.path, OS_IFACE, "GetCachedUpdateRpmDiff", [""], { type: "s" })
                .then(([diff]) => {
                    if (this.updateKey !== key)
                        return;
                    if (diff.length === 0 && !hasDiff) {
                        $("update-diff-load").hidden = false;
                        return;
                    }
                    this.renderDiff(diff);
                })
                .catch(() => {
                    if (this.updateKey === key)
                        $("update-diff-load").hidden = false;
                });
    }

    renderDiff(diff) {
        const body = $("update-diff").querySelector("tbody");
        body.replaceChildren();
        const evr = (details, key) => {
            const p = field(details, key, null);
            return p ? p[1] + "." + p[2] : "";
        };
        for (const [name, type, details] of diff) {
            const kind = DIFF_TYPES[type] || "changed";
            body.append(el("tr", { class: "diff-" + kind, "data-pkg": name },
                           el("td", {}, name), el("td", {}, kind),
                           el("td", {}, evr(details, "PreviousPackage")), el("td", {}, evr(details, "NewPackage"))));
        }
        if (diff.length === 0)
            body.append(el("tr", {}, el("td", { colSpan: 4, class: "muted" }, "No package changes.")));
        $("update-diff").hidden = false;
    }
}

document.addEventListener("DOMContentLoaded", () => {
    new Page().start();
});
