package tier

import "testing"

// Hot storage follows the tier's volume and retention: where the seed's
// figure cannot hold the hot days at its own rates, the need wins.
func TestHotStorageHoldsTheHotDays(t *testing.T) {
	t.Parallel()
	for name, want := range map[Name][3]int{ // catalog per pod, need per pod, provisioned per pod
		Hobby:    {50, 39, 50},   // 2 GB/day x 90 d / 8 x 1.25 + 10
		Startup:  {50, 81, 81},   // 5 x 90 / 8 x 1.25 + 10: the seed's 50 GB is too small
		Growth:   {50, 141, 141}, // 10 x 90 / 8 x 1.25 per replica
		Team:     {60, 71, 71},   // 15 x 30 / 8 x 1.25 (then warm)
		Business: {150, 118, 150},
		Pro:      {250, 235, 250}, // 100 x 30 / 8 / 2 shards x 1.25
	} {
		s, _ := Lookup(name)
		if got := [3]int{s.CatalogHotPerPodGB(), s.HotNeedPerPodGB(), s.HotStoragePerPodGB()}; got != want {
			t.Errorf("%s: catalog, need, provisioned per pod %v, want %v", name, got, want)
		}
	}
	e, _ := Lookup(Enterprise)
	if e.HotStoragePerPodGB() != 0 || e.HotNeedPerPodGB() != 0 {
		t.Error("Enterprise's storage is ClickHouse Cloud's")
	}
}
