"""nbgrader preprocessors of the course, configured in `nbgrader_config.py`."""

from nbclient.exceptions import DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute


def _error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class ResilientExecute(Execute):
    """Execute whose dying kernel costs only the cell that killed it and the cells after it.

    nbgrader's own Execute lets `DeadKernelError` escape, and the whole submission
    is then dropped from the gradebook. Here the cell that was running and every
    later code cell get an error output (so their tests score 0, never full marks),
    and the cells before keep their grades.
    """

    def preprocess(self, nb, resources=None, km=None):
        self._kernel_dead = False
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._kernel_dead:
            cell.outputs = [_error_output("KernelMort", "cellule non exécutée : le noyau s'est arrêté plus haut.")]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._kernel_dead = True
            self.log.warning("Kernel died in cell %d; the cells after it are marked as failed.", index)
            cell.outputs.append(_error_output(
                "KernelMort", "le noyau s'est arrêté pendant cette cellule (mémoire épuisée, os._exit, crash…)."))
            return cell, resources
