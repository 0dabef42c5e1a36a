"""The workflows a worker registers."""
from workflows.supervision import DepartmentSupervisionWorkflow
from workflows.work_order import WorkOrderWorkflow

WORKFLOWS = [WorkOrderWorkflow, DepartmentSupervisionWorkflow]
