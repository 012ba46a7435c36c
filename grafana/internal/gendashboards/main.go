// Command gendashboards writes Fusebox's Grafana dashboards as JSON files
// into a directory (go generate in grafana/).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fusebox-dev/fusebox/grafana"
)

func main() {
	dir := flag.String("dir", "dashboards", "directory the dashboards are written to")
	flag.Parse()
	if err := run(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "gendashboards:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	files, err := grafana.Dashboards()
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.JSON, 0o644); err != nil {
			return err
		}
	}
	return nil
}
