package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type inner struct {
	Address string        `yaml:"address"`
	Timeout time.Duration `yaml:"timeout"`
}

type file struct {
	Name     string          `yaml:"name"`
	Size     ByteSize        `yaml:"size"`
	Items    []inner         `yaml:"items"`
	Sections map[string]Node `yaml:"sections"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string
		check   func(t *testing.T, f file)
	}{
		{name: "empty file keeps defaults", yaml: "", check: func(t *testing.T, f file) {
			if f.Name != "default" {
				t.Errorf("name = %q", f.Name)
			}
		}},
		{name: "values", yaml: "name: x\nsize: 50MB\nitems:\n  - {address: a, timeout: 2s}\n", check: func(t *testing.T, f file) {
			if f.Name != "x" || f.Size != 50e6 || len(f.Items) != 1 || f.Items[0].Timeout != 2*time.Second {
				t.Errorf("got %+v", f)
			}
		}},
		{name: "unknown top key names the line", yaml: "name: x\nnmae: y\n", wantErr: `line 2: unknown key "nmae"`},
		{name: "unknown nested key", yaml: "items:\n  - address: a\n    timout: 1s\n", wantErr: `line 3: unknown key "timout"`},
		{name: "bad duration", yaml: "items:\n  - timeout: 5 minutes\n", wantErr: "line 2"},
		{name: "bad size", yaml: "size: lots\n", wantErr: `line 1: invalid size "lots"`},
		{name: "not yaml", yaml: "name: [x\n", wantErr: "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := file{Name: "default"}
			err := Decode([]byte(tt.yaml), &f)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error spans lines: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, f)
		})
	}
}

func TestNodeDecodeIsStrict(t *testing.T) {
	var f file
	src := "sections:\n  clamav:\n    address: unix:///x\n    enabled: false\n  other:\n    adress: y\n"
	if err := Decode([]byte(src), &f); err != nil {
		t.Fatal(err)
	}
	clam := f.Sections["clamav"].Named("analyzers.clamav")
	var enabled = true
	if ok, err := clam.Take("enabled", &enabled); !ok || err != nil || enabled {
		t.Fatalf("Take enabled = %v, %v, %v", ok, err, enabled)
	}
	var in inner
	if err := clam.Decode(&in); err != nil || in.Address != "unix:///x" {
		t.Fatalf("decode clamav: %v %+v", err, in)
	}
	err := f.Sections["other"].Named("analyzers.other").Decode(&in)
	if err == nil || !strings.Contains(err.Error(), `analyzers.other: line 6: unknown key "adress" (known: address, timeout)`) {
		t.Fatalf("err = %v", err)
	}
	var zero Node
	if err := zero.Decode(&in); err != nil {
		t.Fatalf("absent section: %v", err)
	}
}

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
		ok   bool
	}{
		{"1024", 1024, true}, {"50MB", 50e6, true}, {"512KiB", 512 << 10, true},
		{"1.5GiB", 3 << 29, true}, {"8M", 8 << 20, true}, {"-1", 0, false}, {"MB", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseByteSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseByteSize(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestSecret(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "pw")
	if err := os.WriteFile(p, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MAILSIFT_TEST_PW", "fromenv")
	tests := []struct {
		env, file, want, wantErr string
	}{
		{env: "MAILSIFT_TEST_PW", want: "fromenv"},
		{file: p, want: "s3cret"},
		{env: "MAILSIFT_TEST_UNSET", wantErr: "MAILSIFT_TEST_UNSET is not set"},
		{file: filepath.Join(dir, "missing"), wantErr: "no such file"},
		{env: "A", file: p, wantErr: "not both"},
		{wantErr: "not configured"},
	}
	for _, tt := range tests {
		got, err := Secret("mailbox support password", tt.env, tt.file)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Secret(%q,%q) err = %v, want %q", tt.env, tt.file, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Secret(%q,%q) = %q, %v", tt.env, tt.file, got, err)
		}
	}
}
