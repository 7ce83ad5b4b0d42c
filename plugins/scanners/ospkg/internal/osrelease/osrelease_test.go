package osrelease

import (
	"errors"
	"io/fs"
	"testing"
	"testing/fstest"
)

func distroOf(t *testing.T, osRelease string) (Distro, bool) {
	t.Helper()
	r, err := Parse([]byte(osRelease))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return r.Distro()
}

// Ecosystem names per ossf/osv-schema's ecosystems.json: "Debian:7" is Debian 7; Ubuntu's has
// ":LTS" for LTS releases (e.g. "Ubuntu:22.04:LTS"); Alpine's must be ":v<release>" ("v3.16").
func TestDistroNamesTheOSVEcosystemOfTheRelease(t *testing.T) {
	for _, tc := range []struct {
		name, osRelease, ecosystem string
		pm                         PackageManager
	}{
		{"debian 12", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n", "Debian:12", Dpkg},
		{"ubuntu lts", "NAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nVERSION=\"22.04.4 LTS (Jammy Jellyfish)\"\nID=ubuntu\nID_LIKE=debian\n", "Ubuntu:22.04:LTS", Dpkg},
		{"ubuntu 24.04", "ID=ubuntu\nVERSION_ID=\"24.04\"\n", "Ubuntu:24.04:LTS", Dpkg},
		{"ubuntu interim", "ID=ubuntu\nVERSION_ID=\"23.10\"\n", "Ubuntu:23.10", Dpkg},
		{"ubuntu odd-year april", "ID=ubuntu\nVERSION_ID=\"23.04\"\n", "Ubuntu:23.04", Dpkg},
		{"alpine point release", "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME=\"Alpine Linux v3.20\"\n", "Alpine:v3.20", Apk},
		{"alpine two-part", "ID=alpine\nVERSION_ID=3.9\n", "Alpine:v3.9", Apk},
		{"alpine edge", "ID=alpine\nVERSION_ID=3.21.0_alpha20240807\n", "Alpine:v3.21", Apk},
		{"ubuntu derivative", "ID=pop\nID_LIKE=\"ubuntu debian\"\nVERSION_ID=\"22.04\"\n", "Ubuntu:22.04:LTS", Dpkg},
		{"debian derivative", "ID=elxr\nID_LIKE=debian\nVERSION_ID=\"12\"\n", "Debian:12", Dpkg},
		{"single quotes and comments", "# written by hand\nID='debian'\nVERSION_ID='11'\n", "Debian:11", Dpkg},
	} {
		d, ok := distroOf(t, tc.osRelease)
		if !ok || d.Ecosystem != tc.ecosystem || d.PackageManager != tc.pm {
			t.Errorf("%s: got %+v %v, want %s via %s", tc.name, d, ok, tc.ecosystem, tc.pm)
		}
	}
}

func TestDistroIsNotRecognisedWithoutAReleaseOSVKnows(t *testing.T) {
	for name, osRelease := range map[string]string{
		"debian unstable has no VERSION_ID": "PRETTY_NAME=\"Debian GNU/Linux trixie/sid\"\nID=debian\n",
		"unknown distribution":              "ID=clear-linux-os\nVERSION_ID=40000\n",
		"mint is no ubuntu release":         "ID=linuxmint\nID_LIKE=\"ubuntu debian\"\nVERSION_ID=\"21.2\"\n",
		"ubuntu month":                      "ID=ubuntu\nVERSION_ID=\"22.05\"\n",
		"debian point version":              "ID=debian\nVERSION_ID=\"12.5\"\n",
		"no ID at all":                      "NAME=whatever\n",
	} {
		if d, ok := distroOf(t, osRelease); ok {
			t.Errorf("%s: recognised as %+v", name, d)
		}
	}
}

func TestParseHandlesQuotingAndRefusesGarbage(t *testing.T) {
	r, err := Parse([]byte("ID=\"deb\\\"ian\"\nVERSION_ID=  \nID_LIKE=\"Ubuntu  Debian\"\n"))
	if err != nil || r.ID != `deb"ian` || len(r.IDLike) != 2 || r.IDLike[0] != "ubuntu" {
		t.Fatalf("got %+v, %v", r, err)
	}
	for _, bad := range []string{"this is not os-release\n", "ID=\"unterminated\n", "ID=\"a\"b\n", "=x\n"} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestReadPrefersEtcAndFallsBackToUsrLib(t *testing.T) {
	both := fstest.MapFS{
		"etc/os-release":     {Data: []byte("ID=alpine\nVERSION_ID=3.20.3\n")},
		"usr/lib/os-release": {Data: []byte("ID=debian\nVERSION_ID=12\n")},
	}
	if r, err := Read(both); err != nil || r.ID != "alpine" {
		t.Fatalf("with both: %+v %v", r, err)
	}
	delete(both, "etc/os-release")
	if r, err := Read(both); err != nil || r.ID != "debian" {
		t.Fatalf("usr/lib only: %+v %v", r, err)
	}
	if _, err := Read(fstest.MapFS{}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("neither: %v", err)
	}
}
