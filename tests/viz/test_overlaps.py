import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cervix.cells.instances import Instances  # noqa: E402
from cervix.cells.whole import from_stack  # noqa: E402
from cervix.viz.overlaps import clump_box, plot_partition_vs_whole  # noqa: E402


def _inst():
    cells = np.zeros((80, 100), np.uint16)
    cells[10:40, 10:40] = 1
    cells[10:40, 40:70] = 2
    cells[60:75, 80:95] = 3
    nuclei = np.where(np.isin(cells, [1, 2]) & (np.indices(cells.shape)[0] % 30 < 4), cells, 0).astype(np.uint16)
    whole = np.zeros((3, 80, 100), bool)
    whole[0, 10:40, 10:50] = True  # overlaps cell 2 on columns 40-49
    whole[1, 10:40, 35:70] = True
    whole[2] = cells == 3
    own = np.stack([nuclei == k for k in (1, 2, 3)])
    return Instances(cells, nuclei, whole=from_stack(whole, own))


def test_clump_box_frames_the_most_overlapping_pair():
    inst = _inst()
    assert clump_box(inst, margin=5) == (5, 5, 45, 75)
    inst.whole = None  # a partition never overlaps: the whole field
    assert clump_box(inst) == (0, 0, 80, 100)


def test_plot_partition_vs_whole_draws_both_panels():
    inst = _inst()
    fig = plot_partition_vs_whole(np.full((80, 100, 3), 200, np.uint8), inst, title="toy")
    assert len(fig.axes) == 2
    assert all(len(ax.collections) >= 2 for ax in fig.axes)  # contours of the cells in view
    assert "whole" in fig.axes[1].get_title() and "partition" in fig.axes[0].get_title()
    plt.close(fig)
