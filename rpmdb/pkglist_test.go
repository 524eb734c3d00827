package rpmdb

import (
	"reflect"
	"testing"
)

func pkg(name string, epoch uint32, v, r, arch string) Package {
	return Package{Name: name, Epoch: epoch, Version: v, Release: r, Arch: arch}
}

func TestPkgList(t *testing.T) {
	in := []Package{pkg("zz", 0, "1", "1", "noarch"), pkg("aa", 2, "3.0", "4.el9", "x86_64")}
	got := PkgList(in)
	want := [][5]string{{"aa", "2", "3.0", "4.el9", "x86_64"}, {"zz", "0", "1", "1", "noarch"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("PkgList = %v, want %v", got, want)
	}
	back, err := ParsePkgList(got)
	if err != nil || !reflect.DeepEqual(back, []Package{in[1], in[0]}) {
		t.Errorf("ParsePkgList = %v, %v", back, err)
	}
	if _, err := ParsePkgList([][5]string{{"a", "x", "1", "1", "noarch"}}); err == nil {
		t.Error("ParsePkgList accepted a bad epoch")
	}
}
