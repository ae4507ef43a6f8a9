"""Everything under a results folder, in four rooms: where each file lives (`layout`), how a file is written and
read back without ever being half written (`files`), a run folder's life from its lock to its cleanup (`runs`), and
runs read back as typed records (`stored`). The rest of the package imports these names from here; no other module
names a results file."""

from .files import SCHEMA, append_document, atomic_write_bytes, atomic_write_json, atomic_write_text, \
    ensure_writable_dir, keep_traceback, read_json, read_lines, set_aside, unwritable, write_csv, write_failure, \
    write_lines, write_lines_gz
from .layout import DEFAULT_RESULTS, REFERENCE_RESULTS, RunPaths, StudyPaths, TablePaths, answer_figure_path, \
    benchmarks_json_path, clone_relative, leaderboard_path, summary_link, tables_dir_for
from .runs import RunOutcome, RunStatus, chief_token, list_run_dirs, open_run, prepare_run, reclaim_work, \
    record_finish, require_run_dirs, run_lock, run_status, write_study
from .stored import StoredRun, StoredStudy, load_run, load_study, read_config

__all__ = ["DEFAULT_RESULTS", "REFERENCE_RESULTS", "SCHEMA", "RunOutcome", "RunPaths", "RunStatus", "StoredRun",
           "StoredStudy", "StudyPaths", "TablePaths", "answer_figure_path", "append_document", "atomic_write_bytes",
           "atomic_write_json", "atomic_write_text", "benchmarks_json_path", "chief_token", "clone_relative",
           "ensure_writable_dir", "keep_traceback", "leaderboard_path", "list_run_dirs", "load_run", "load_study",
           "open_run", "prepare_run", "read_config", "read_json", "read_lines", "reclaim_work", "record_finish",
           "require_run_dirs", "run_lock", "run_status", "set_aside", "summary_link", "tables_dir_for",
           "unwritable", "write_csv", "write_failure", "write_lines", "write_lines_gz", "write_study"]
