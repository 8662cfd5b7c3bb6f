"""decoder_warnings: what native code prints to standard error while an
image decodes, collected per call."""
import os

from hih_plugin.datasets.image_check import decoder_warnings


def test_each_call_collects_only_its_own_damage_lines(capfd):
    with decoder_warnings() as first:
        os.write(2, b'Corrupt JPEG data: 3 extraneous bytes\n')
        os.write(2, b'something harmless\n')
    with decoder_warnings() as second:
        os.write(2, b'Premature end of JPEG file\n')
    with decoder_warnings() as third:
        pass
    assert first == ['Corrupt JPEG data: 3 extraneous bytes']
    assert second == ['Premature end of JPEG file']
    assert third == []
    # lines that report no damage are passed on to standard error
    assert 'something harmless' in capfd.readouterr().err
