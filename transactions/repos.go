package transactions

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/strata-os/strata/internal/rpmmd"
)

// CheckRepoSettings refuses what ModifyRepo would refuse without looking at
// the host: as rpm-ostree, only "enabled" may change, to "0" or "1" (other
// .repo settings are the administrator's, in the file itself).
func CheckRepoSettings(settings map[string]string) error {
	if len(settings) == 0 {
		return fmt.Errorf("no settings to change; pass e.g. {\"enabled\": \"0\"}")
	}
	for key, value := range settings {
		if key != "enabled" {
			return fmt.Errorf("Changing '%s' not allowed in yum .repo files; edit /etc/yum.repos.d directly", key)
		}
		if value != "0" && value != "1" {
			return fmt.Errorf("Only '0' and '1' are allowed for the '%s' key", key)
		}
	}
	return nil
}

// ModifyRepo changes settings of repo id in the .repo file of osname's
// merge deployment's /etc/yum.repos.d that defines it (the /etc the host
// runs, or will boot with).
func (e *Engine) ModifyRepo(ctx context.Context, osname, id string, settings map[string]string, p Progress) error {
	if err := CheckRepoSettings(settings); err != nil {
		return err
	}
	return e.run(ctx, func(s Sysroot) error {
		merge, _, err := mergeOrigin(s, osname)
		if err != nil {
			return err
		}
		repos, err := reposFor(s, merge)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(repos, func(r rpmmd.Repo) bool { return r.ID == id })
		if i < 0 {
			return fmt.Errorf("Yum repo '%s' not found; `strata status` lists the deployment, ListRepos its repos", id)
		}
		file := repos[i].File
		etc := filepath.Join(s.DeploymentPath(merge), "etc") + string(filepath.Separator)
		if !strings.HasPrefix(file, etc) {
			return fmt.Errorf("repo '%s' is defined by the image (%s), not in /etc/yum.repos.d; copy the file there to change it", id, file)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("reading %s: %w", file, err)
		}
		keys := make([]string, 0, len(settings))
		for k := range settings {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if data, err = rpmmd.SetRepoOption(file, data, id, k, settings[k]); err != nil {
				return err
			}
		}
		fi, err := os.Stat(file)
		if err != nil {
			return fmt.Errorf("reading %s: %w", file, err)
		}
		if err := replaceFile(file, data, fi.Mode().Perm()); err != nil {
			return fmt.Errorf("writing %s: %w", file, err)
		}
		p.Message(fmt.Sprintf("Repo '%s': %s", id, strings.Join(formatSettings(keys, settings), ", ")))
		return nil
	})
}

func formatSettings(keys []string, settings map[string]string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k + "=" + settings[k]
	}
	return out
}

// replaceFile writes data to path through a temporary file renamed over it,
// so that a reader sees the old or the new file, never half of one.
func replaceFile(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
