package main

import (
	"reflect"
	"strings"
)

// restartNotes names each section of next, a configuration a reload
// applies, that differs from running, the configuration the app started
// with, and that only a restart applies: "slos changed: applies at the
// next restart". The gateway's routes reload; its listen address does
// not, and a gateway added or removed needs a restart too.
func restartNotes(running, next *fileConfig) []string {
	var notes []string
	rv, nv := reflect.ValueOf(running).Elem(), reflect.ValueOf(next).Elem()
	t := rv.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		// pipelines is the section a reload applies.
		if !f.IsExported() || name == "" || name == "-" || name == "pipelines" {
			continue
		}
		if name == "proxy" {
			notes = append(notes, proxyNotes(running.Proxy, next.Proxy)...)
			continue
		}
		if !reflect.DeepEqual(rv.Field(i).Interface(), nv.Field(i).Interface()) {
			notes = append(notes, name+" changed: applies at the next restart")
		}
	}
	return notes
}

func proxyNotes(running, next *proxyConfig) []string {
	switch {
	case running == nil && next == nil:
		return nil
	case running == nil:
		return []string{"proxy added: the gateway starts at the next restart"}
	case next == nil:
		return []string{"proxy removed: the gateway stops at the next restart"}
	case running.Listen != next.Listen:
		return []string{"proxy.listen changed: applies at the next restart"}
	}
	return nil
}
