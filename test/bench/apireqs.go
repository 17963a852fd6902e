package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"

	"github.com/archfit/archfit/internal/controlplane"
)

var reqLine = regexp.MustCompile(`^apiserver_request_total\{(.*)\} ([0-9.e+]+)$`)
var labelRe = regexp.MustCompile(`(\w+)="([^"]*)"`)

// apiRequests reads kube-apiserver's request counter by verb and resource.
func apiRequests(ctx context.Context, cp *controlplane.ControlPlane) map[string]float64 {
	b, err := cp.Client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	out := map[string]float64{}
	if err != nil {
		return out
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := reqLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		l := map[string]string{}
		for _, kv := range labelRe.FindAllStringSubmatch(m[1], -1) {
			l[kv[1]] = kv[2]
		}
		v, _ := strconv.ParseFloat(m[2], 64)
		key := l["verb"] + " " + l["resource"]
		if l["subresource"] != "" {
			key += "/" + l["subresource"]
		}
		out[key] += v
	}
	return out
}

func diffRequests(before, after map[string]float64, pods int) string {
	d := map[string]float64{}
	for k := range after {
		d[k] = after[k] - before[k]
	}
	return perPod(d, pods, float64(pods)/100)
}

// perPod lists counts divided by pods, by key in order, leaving out those
// below min.
func perPod(counts map[string]float64, pods int, min float64) string {
	var keys []string
	for k, v := range counts {
		if v >= min {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	s := ""
	for _, k := range keys {
		s += fmt.Sprintf("%s %.3f; ", k, counts[k]/float64(pods))
	}
	return s
}
