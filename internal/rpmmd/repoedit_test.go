package rpmmd

import "testing"

func TestSetRepoOption(t *testing.T) {
	const file = "# mine\n[a]\nname=A\nenabled=1\n\n[b]\nname=B\nbaseurl=http://x/\n  http://y/\n# trailing\n"
	cases := []struct {
		id, key, value, want string
	}{
		{"a", "enabled", "0", "# mine\n[a]\nname=A\nenabled=0\n\n[b]\nname=B\nbaseurl=http://x/\n  http://y/\n# trailing\n"},
		{"b", "enabled", "0", "# mine\n[a]\nname=A\nenabled=1\n\n[b]\nname=B\nbaseurl=http://x/\n  http://y/\nenabled=0\n# trailing\n"},
		{"b", "baseurl", "http://z/", "# mine\n[a]\nname=A\nenabled=1\n\n[b]\nname=B\nbaseurl=http://z/\n# trailing\n"},
	}
	for _, c := range cases {
		got, err := SetRepoOption("t.repo", []byte(file), c.id, c.key, c.value)
		if err != nil {
			t.Fatalf("%s.%s: %v", c.id, c.key, err)
		}
		if string(got) != c.want {
			t.Errorf("%s.%s=%s:\n%s\nwant:\n%s", c.id, c.key, c.value, got, c.want)
		}
		repos, err := ParseRepoFile("t.repo", got, nil)
		if err != nil || len(repos) != 2 {
			t.Errorf("result does not parse: %v %v", repos, err)
		}
	}
	if _, err := SetRepoOption("t.repo", []byte(file), "c", "enabled", "0"); err == nil {
		t.Error("unknown section accepted")
	}
}
