package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/vigil-monitoring/vigil/storage"
)

// groupsFileVersion is the version of the file Save writes; LoadGroups
// refuses others rather than guessing.
const groupsFileVersion = 1

// The file format. Label sets are JSON objects (Go writes their keys
// sorted, so the file diffs well); values are strings because JSON has no
// NaN or Inf.
type groupsFile struct {
	Version int                 `json:"version"`
	Groups  []groupFile         `json:"groups"`
	Stale   []map[string]string `json:"stale,omitempty"`
}

type groupFile struct {
	Labels            map[string]string `json:"labels"`
	PushTimeMillis    int64             `json:"push_time_ms"`
	FailureTimeMillis int64             `json:"push_failure_time_ms"`
	Families          []familyFile      `json:"families"`
}

type familyFile struct {
	Metadata
	Series []seriesFile `json:"series"`
}

type seriesFile struct {
	Labels map[string]string `json:"labels"`
	Value  string            `json:"value"`
}

// Save writes every group, and the staleness markers not yet appended, to
// path atomically: a crash leaves either the old file or the new one. It
// is safe to call while pushes go on.
func (g *Groups) Save(path string) error {
	g.mu.Lock()
	f := groupsFile{Version: groupsFileVersion, Groups: make([]groupFile, 0, len(g.groups))}
	for _, gr := range g.groups {
		gf := groupFile{
			Labels:            labelsMap(gr.labels),
			PushTimeMillis:    gr.pushMillis,
			FailureTimeMillis: gr.failureMillis,
			Families:          make([]familyFile, 0, len(gr.families)),
		}
		for _, fam := range gr.families {
			ff := familyFile{Metadata: fam.meta, Series: make([]seriesFile, 0, len(fam.series))}
			for _, s := range fam.series {
				ff.Series = append(ff.Series, seriesFile{Labels: labelsMap(s.labels), Value: strconv.FormatFloat(s.value, 'g', -1, 64)})
			}
			gf.Families = append(gf.Families, ff)
		}
		f.Groups = append(f.Groups, gf)
	}
	for _, labels := range g.stale {
		f.Stale = append(f.Stale, labelsMap(labels))
	}
	g.mu.Unlock()

	// Sorted output makes the file stable from one save to the next.
	slices.SortFunc(f.Groups, func(a, b groupFile) int {
		return strings.Compare(seriesKey(groupLabelsFromMap(a.Labels)), seriesKey(groupLabelsFromMap(b.Labels)))
	})
	for i := range f.Groups {
		slices.SortFunc(f.Groups[i].Families, func(a, b familyFile) int { return strings.Compare(a.Metric, b.Metric) })
	}
	data, err := json.Marshal(&f)
	if err != nil {
		return fmt.Errorf("cannot encode the push groups: %w", err)
	}
	return writeFileAtomic(path, data)
}

// writeFileAtomic writes data to a temporary file beside path, syncs it,
// renames it over path and syncs the directory, so that the rename itself
// survives a crash.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("cannot save the push groups: %w (check that %s exists and is writable)", err, dir)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("cannot save the push groups to %s: %w", tmp.Name(), err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("cannot save the push groups to %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("cannot save the push groups to %s: %w", tmp.Name(), err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("cannot save the push groups to %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cannot sync the directory %s after saving the push groups: %w", dir, err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("cannot sync the directory %s after saving the push groups: %w", dir, err)
	}
	return nil
}

// LoadGroups reads groups saved by Save. A missing file gives empty
// Groups: the first start has none.
func LoadGroups(path string, opts GroupsOptions) (*Groups, error) {
	g := NewGroups(opts)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return g, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the push groups: %w", err)
	}
	var f groupsFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("cannot decode the push groups in %s: %w; move the file away to start without pushed groups", path, err)
	}
	if f.Version != groupsFileVersion {
		return nil, fmt.Errorf("the push groups file %s has version %d; this Vigil reads version %d: "+
			"use the Vigil that wrote it, or move the file away to start without pushed groups", path, f.Version, groupsFileVersion)
	}
	if err := g.load(&f); err != nil {
		return nil, fmt.Errorf("the push groups file %s is not valid: %w; move the file away to start without pushed groups", path, err)
	}
	return g, nil
}

func (g *Groups) load(f *groupsFile) error {
	for _, gf := range f.Groups {
		gl := groupLabelsFromMap(gf.Labels)
		if err := validateGroupLabels(gl); err != nil {
			return fmt.Errorf("group %s: %w", seriesString(gl), err)
		}
		key := seriesKey(gl)
		if g.groups[key] != nil {
			return fmt.Errorf("group %s appears twice", seriesString(gl))
		}
		gr, err := g.newGroup(key, gl)
		if err != nil {
			return err
		}
		gr.pushMillis, gr.failureMillis = gf.PushTimeMillis, gf.FailureTimeMillis
		for _, ff := range gf.Families {
			fam := &family{meta: ff.Metadata}
			for _, sf := range ff.Series {
				labels := labelsFromMap(sf.Labels)
				if err := validateSeries(labels); err != nil {
					return fmt.Errorf("group %s, series %s: %w", seriesString(gl), seriesString(labels), err)
				}
				v, err := strconv.ParseFloat(sf.Value, 64)
				if err != nil {
					return fmt.Errorf("group %s, series %s: invalid value %q", seriesString(gl), seriesString(labels), sf.Value)
				}
				k := seriesKey(labels)
				if _, ok := g.owners[k]; ok {
					return fmt.Errorf("series %s appears twice (last in group %s)", seriesString(labels), seriesString(gl))
				}
				g.owners[k] = key
				fam.series = append(fam.series, pushedSeries{key: k, labels: labels, value: v})
			}
			gr.families[ff.Metric] = fam
		}
		g.groups[key] = gr
	}
	for _, m := range f.Stale {
		labels := labelsFromMap(m)
		if err := validateSeries(labels); err != nil {
			return fmt.Errorf("stale series %s: %w", seriesString(labels), err)
		}
		g.stale[seriesKey(labels)] = labels
	}
	return nil
}

func labelsMap(labels []storage.Label) map[string]string {
	m := make(map[string]string, len(labels))
	for _, l := range labels {
		m[l.Name] = l.Value
	}
	return m
}

// labelsFromMap returns the labels sorted by name.
func labelsFromMap(m map[string]string) []storage.Label {
	labels := make([]storage.Label, 0, len(m))
	for name, value := range m {
		labels = append(labels, storage.Label{Name: name, Value: value})
	}
	sortLabels(labels)
	return labels
}

// groupLabelsFromMap returns a grouping key: job first, then the other
// labels sorted by name.
func groupLabelsFromMap(m map[string]string) []storage.Label {
	labels := labelsFromMap(m)
	if i := labelValueIndex(labels, "job"); i > 0 {
		job := labels[i]
		copy(labels[1:i+1], labels[:i])
		labels[0] = job
	}
	return labels
}
