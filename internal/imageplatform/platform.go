// Package imageplatform learns which platforms (os/arch/variant) a container
// image is built for, from the registry that serves it, and computes the
// platforms a whole pod can run on. It is shared by the scheduler plugin and
// the autoscaler expander so that both halves make the same decision.
package imageplatform

import (
	"fmt"
	"sort"
	"strings"
)

// Platform is one os/architecture/variant triple, normalised so that equal
// platforms compare equal with ==.
type Platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
}

// String renders os/arch[/variant], the form used in annotations and output.
func (p Platform) String() string {
	if p.Variant == "" {
		return p.OS + "/" + p.Architecture
	}
	return p.OS + "/" + p.Architecture + "/" + p.Variant
}

// OSArch drops the variant. Nodes advertise only kubernetes.io/os and
// kubernetes.io/arch, so placement compares on this pair.
func (p Platform) OSArch() OSArch { return OSArch{OS: p.OS, Arch: p.Architecture} }

// OSArch is what a node advertises through its well-known labels.
type OSArch struct {
	OS   string
	Arch string
}

func (o OSArch) String() string { return o.OS + "/" + o.Arch }

// Normalize maps the aliases registries and toolchains use onto the names
// Kubernetes nodes report (GOARCH), following containerd's rules: arm64/v8 is
// arm64, a bare arm is arm/v7, and arm/v6 stays distinct from arm/v7.
func Normalize(p Platform) Platform {
	p.OS = strings.ToLower(strings.TrimSpace(p.OS))
	p.Architecture = strings.ToLower(strings.TrimSpace(p.Architecture))
	p.Variant = strings.ToLower(strings.TrimSpace(p.Variant))
	switch p.OS {
	case "macos":
		p.OS = "darwin"
	}
	switch p.Architecture {
	case "i386", "i486", "i586", "i686":
		p.Architecture, p.Variant = "386", ""
	case "x86_64", "x86-64", "amd64":
		p.Architecture = "amd64"
		if p.Variant == "v1" {
			p.Variant = ""
		}
	case "aarch64", "arm64":
		p.Architecture = "arm64"
		if p.Variant == "8" || p.Variant == "v8" {
			p.Variant = ""
		}
	case "armhf":
		p.Architecture, p.Variant = "arm", "v7"
	case "armel":
		p.Architecture, p.Variant = "arm", "v6"
	case "arm":
		switch p.Variant {
		case "", "7":
			p.Variant = "v7"
		case "5", "6", "8":
			p.Variant = "v" + p.Variant
		}
	}
	return p
}

// ParsePlatform parses "os/arch[/variant]" and normalises it. It is used on
// user input (pod annotations, flags), so every malformed value is an error
// that names what is wrong.
func ParsePlatform(s string) (Platform, error) {
	parts := strings.Split(strings.TrimSpace(s), "/")
	if len(parts) < 2 || len(parts) > 3 {
		return Platform{}, fmt.Errorf("platform %q: want os/arch[/variant]", s)
	}
	for i, part := range parts {
		if part == "" {
			return Platform{}, fmt.Errorf("platform %q: empty element %d", s, i+1)
		}
		for _, r := range part {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
				return Platform{}, fmt.Errorf("platform %q: invalid character %q", s, r)
			}
		}
	}
	p := Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return Normalize(p), nil
}

// ParsePlatformList parses a comma-separated list such as the value of the
// archfit.dev/platforms annotation. An empty list is an error: an override
// that allows nothing is almost certainly a typo, not an intent.
func ParsePlatformList(s string) ([]Platform, error) {
	var out []Platform
	for _, item := range strings.Split(s, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		p, err := ParsePlatform(item)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("platform list %q is empty", s)
	}
	return SortPlatforms(out), nil
}

// SortPlatforms sorts and de-duplicates in place and returns the result, so
// results and signatures are stable whatever order a registry lists them in.
func SortPlatforms(ps []Platform) []Platform {
	sort.Slice(ps, func(i, j int) bool { return ps[i].String() < ps[j].String() })
	out := ps[:0]
	for i, p := range ps {
		if i > 0 && p == ps[i-1] {
			continue
		}
		out = append(out, p)
	}
	return out
}

// PlatformStrings renders a list as os/arch[/variant] strings.
func PlatformStrings(ps []Platform) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}
