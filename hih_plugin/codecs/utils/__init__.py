from .decimal import (decimal_axis_labels, decimal_bin_offset,
                      decimal_bin_position, generate_decimal_labels)
from .gaussian_heatmap import generate_cell_gaussian_heatmaps
from .hih_defaults import hih_mode_defaults
from .post_processing import (decode_hih_tensors, decode_topk_tensors,
                              flat_index_to_cells, get_heatmap_maximum_tensor,
                              numpy_batch_of_one)
from .rounding_heatmap import (generate_bilinear_heatmaps,
                               generate_rounded_heatmaps)
from .validation import finite_coordinates, finite_rows, sanitize_visibility

__all__ = [
    'decimal_axis_labels', 'decimal_bin_offset', 'decimal_bin_position',
    'generate_decimal_labels', 'generate_cell_gaussian_heatmaps',
    'hih_mode_defaults',
    'decode_hih_tensors', 'decode_topk_tensors', 'flat_index_to_cells',
    'get_heatmap_maximum_tensor', 'numpy_batch_of_one',
    'generate_bilinear_heatmaps',
    'generate_rounded_heatmaps', 'finite_coordinates', 'finite_rows',
    'sanitize_visibility'
]
