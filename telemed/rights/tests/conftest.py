import pytest


@pytest.fixture(autouse=True)
def export_files(files_in_tmp):
    """Each test stores its documents and exports under its own temporary folder."""
    return files_in_tmp
