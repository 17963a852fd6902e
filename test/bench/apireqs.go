package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"

	"github.com/archfit/archfit/test/harness/controlplane"
)

var metricLine = regexp.MustCompile(`^(apiserver_request_total|scheduler_plugin_evaluation_total)\{(.*)\} ([0-9.e+]+)$`)
var labelRe = regexp.MustCompile(`(\w+)="([^"]*)"`)

// counters is one scrape of the process's /metrics (kube-apiserver and
// kube-scheduler share the registry here): apiserver requests by verb and
// resource, and scheduler plugin evaluations (one per node a plugin's
// Filter or Score ran on) by profile, extension point and plugin.
type counters struct {
	requests map[string]float64
	evals    map[string]float64 // "profile extension plugin"
}

func scrape(ctx context.Context, cp *controlplane.ControlPlane) counters {
	c := counters{requests: map[string]float64{}, evals: map[string]float64{}}
	b, err := cp.Client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return c
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := metricLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		l := map[string]string{}
		for _, kv := range labelRe.FindAllStringSubmatch(m[2], -1) {
			l[kv[1]] = kv[2]
		}
		v, _ := strconv.ParseFloat(m[3], 64)
		if m[1] == "scheduler_plugin_evaluation_total" {
			c.evals[l["profile"]+" "+l["extension_point"]+" "+l["plugin"]] += v
			continue
		}
		key := l["verb"] + " " + l["resource"]
		if l["subresource"] != "" {
			key += "/" + l["subresource"]
		}
		c.requests[key] += v
	}
	return c
}

func diffRequests(before, after counters, pods int) string {
	d := map[string]float64{}
	for k := range after.requests {
		d[k] = after.requests[k] - before.requests[k]
	}
	return perPod(d, pods, float64(pods)/100)
}

// nodesPerPod says how many nodes Filter and Score ran on per pod in a
// round: NodeResourcesFit's count is the nodes that reached the resource
// check (every node visited, less those ArchFit rejected first), ArchFit's
// the nodes it was not skipped for.
func nodesPerPod(before, after counters, profile string, pods int) string {
	d := map[string]float64{}
	for _, ep := range []string{"Filter", "Score"} {
		for _, pl := range []string{"NodeResourcesFit", "ArchFit"} {
			k := profile + " " + ep + " " + pl
			if v := after.evals[k] - before.evals[k]; v > 0 {
				d[ep+" "+pl] = v
			}
		}
	}
	return perPod(d, pods, 1)
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
