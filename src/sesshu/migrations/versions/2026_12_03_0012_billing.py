"""billing: bank accounts, tax facts and copay exemptions, billing months, runs, paid lines, returns, claims

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-03 09:13:22
"""
from alembic import op
import sqlalchemy as sa


revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('billing_month',
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.Column('closed_by', sa.String(length=64), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('month', name=op.f('pk_billing_month'))
    )
    op.create_table('billing_claim',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('institution_code', sa.String(length=20), nullable=False),
    sa.Column('vaccine_code', sa.String(length=20), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('import_batch_id', sa.Integer(), nullable=False),
    sa.Column('imported_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['import_batch_id'], ['import_batch.id'], name=op.f('fk_billing_claim_import_batch_id_import_batch')),
    sa.ForeignKeyConstraint(['institution_code'], ['institution.code'], name=op.f('fk_billing_claim_institution_code_institution')),
    sa.ForeignKeyConstraint(['vaccine_code'], ['vaccine.code'], name=op.f('fk_billing_claim_vaccine_code_vaccine')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_claim'))
    )
    op.create_index('uq_billing_claim_key', 'billing_claim', ['month', 'institution_code', 'vaccine_code'], unique=True)
    op.create_table('billing_run',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('run_no', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('transfer_date', sa.Date(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('started_by', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['batch_job.id'], name=op.f('fk_billing_run_job_id_batch_job')),
    sa.ForeignKeyConstraint(['month'], ['billing_month.month'], name=op.f('fk_billing_run_month_billing_month')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_run'))
    )
    op.create_index('uq_billing_run_month_no', 'billing_run', ['month', 'run_no'], unique=True)
    op.create_table('institution_bank_account',
    sa.Column('institution_code', sa.String(length=20), nullable=False),
    sa.Column('bank_code', sa.String(length=4), nullable=False),
    sa.Column('bank_name', sa.String(length=15), nullable=False),
    sa.Column('branch_code', sa.String(length=3), nullable=False),
    sa.Column('branch_name', sa.String(length=15), nullable=False),
    sa.Column('account_type', sa.String(length=1), nullable=False),
    sa.Column('account_no', sa.String(length=7), nullable=False),
    sa.Column('holder_kana', sa.String(length=30), nullable=False),
    sa.Column('import_batch_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['import_batch_id'], ['import_batch.id'], name=op.f('fk_institution_bank_account_import_batch_id_import_batch')),
    sa.ForeignKeyConstraint(['institution_code'], ['institution.code'], name=op.f('fk_institution_bank_account_institution_code_institution')),
    sa.PrimaryKeyConstraint('institution_code', name=op.f('pk_institution_bank_account'))
    )
    op.create_table('subsidy_decision',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('atena_no', sa.String(length=15), nullable=False),
    sa.Column('fiscal_year', sa.Integer(), nullable=False),
    sa.Column('household_no', sa.String(length=15), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('method', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.String(length=400), nullable=False),
    sa.Column('basis', sa.Text(), nullable=False),
    sa.Column('decided_by', sa.String(length=64), nullable=False),
    sa.Column('decided_at', sa.DateTime(), nullable=False),
    sa.Column('approval_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.ForeignKeyConstraint(['atena_no'], ['person.atena_no'], name=op.f('fk_subsidy_decision_atena_no_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subsidy_decision'))
    )
    op.create_index('uq_subsidy_decision_current', 'subsidy_decision', ['atena_no', 'fiscal_year'], unique=True, sqlite_where=sa.text("status = 'current'"), postgresql_where=sa.text("status = 'current'"))
    op.create_table('tax_status',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('fiscal_year', sa.Integer(), nullable=False),
    sa.Column('atena_no', sa.String(length=15), nullable=False),
    sa.Column('household_no', sa.String(length=15), nullable=False),
    sa.Column('taxable', sa.Boolean(), nullable=False),
    sa.Column('welfare', sa.Boolean(), nullable=False),
    sa.Column('import_batch_id', sa.Integer(), nullable=False),
    sa.Column('imported_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['atena_no'], ['person.atena_no'], name=op.f('fk_tax_status_atena_no_person')),
    sa.ForeignKeyConstraint(['import_batch_id'], ['import_batch.id'], name=op.f('fk_tax_status_import_batch_id_import_batch')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tax_status'))
    )
    op.create_index('ix_tax_status_year_household', 'tax_status', ['fiscal_year', 'household_no'], unique=False)
    op.create_index('uq_tax_status_year_person', 'tax_status', ['fiscal_year', 'atena_no'], unique=True)
    op.create_table('billing_return',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('institution_code', sa.String(length=20), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('atena_no', sa.String(length=15), nullable=False),
    sa.Column('vaccine_code', sa.String(length=20), nullable=False),
    sa.Column('term', sa.String(length=8), nullable=False),
    sa.Column('vaccinated_on', sa.Date(), nullable=False),
    sa.Column('codes', sa.String(length=200), nullable=False),
    sa.Column('reasons', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['month'], ['billing_month.month'], name=op.f('fk_billing_return_month_billing_month')),
    sa.ForeignKeyConstraint(['record_id'], ['vaccination_record.id'], name=op.f('fk_billing_return_record_id_vaccination_record')),
    sa.ForeignKeyConstraint(['run_id'], ['billing_run.id'], name=op.f('fk_billing_return_run_id_billing_run')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_return'))
    )
    op.create_index('ix_billing_return_month_institution', 'billing_return', ['month', 'institution_code'], unique=False)
    op.create_index('uq_billing_return_month_record', 'billing_return', ['month', 'record_id'], unique=True)
    op.create_table('payment_line',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('institution_code', sa.String(length=20), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('atena_no', sa.String(length=15), nullable=False),
    sa.Column('vaccine_code', sa.String(length=20), nullable=False),
    sa.Column('term', sa.String(length=8), nullable=False),
    sa.Column('screening_result', sa.String(length=20), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('vaccinated_on', sa.Date(), nullable=False),
    sa.Column('unit_fee', sa.Integer(), nullable=False),
    sa.Column('copay', sa.Integer(), nullable=False),
    sa.Column('copay_exempt', sa.Boolean(), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('record_version', sa.Integer(), nullable=False),
    sa.Column('record_error_code', sa.String(length=200), nullable=False),
    sa.Column('record_status', sa.String(length=10), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['institution_code'], ['institution.code'], name=op.f('fk_payment_line_institution_code_institution')),
    sa.ForeignKeyConstraint(['month'], ['billing_month.month'], name=op.f('fk_payment_line_month_billing_month')),
    sa.ForeignKeyConstraint(['record_id'], ['vaccination_record.id'], name=op.f('fk_payment_line_record_id_vaccination_record')),
    sa.ForeignKeyConstraint(['run_id'], ['billing_run.id'], name=op.f('fk_payment_line_run_id_billing_run')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_line'))
    )
    op.create_index('ix_payment_line_month_institution', 'payment_line', ['month', 'institution_code'], unique=False)
    op.create_index('ix_payment_line_record', 'payment_line', ['record_id'], unique=False)
    op.create_index('uq_payment_line_adjustment', 'payment_line', ['month', 'record_id', 'institution_code'], unique=True, sqlite_where=sa.text("kind = 'adjustment'"), postgresql_where=sa.text("kind = 'adjustment'"))
    op.create_index('uq_payment_line_fee_record', 'payment_line', ['record_id'], unique=True, sqlite_where=sa.text("kind = 'fee'"), postgresql_where=sa.text("kind = 'fee'"))


def downgrade() -> None:
    op.drop_index('uq_payment_line_fee_record', table_name='payment_line', sqlite_where=sa.text("kind = 'fee'"), postgresql_where=sa.text("kind = 'fee'"))
    op.drop_index('uq_payment_line_adjustment', table_name='payment_line', sqlite_where=sa.text("kind = 'adjustment'"), postgresql_where=sa.text("kind = 'adjustment'"))
    op.drop_index('ix_payment_line_record', table_name='payment_line')
    op.drop_index('ix_payment_line_month_institution', table_name='payment_line')
    op.drop_table('payment_line')
    op.drop_index('uq_billing_return_month_record', table_name='billing_return')
    op.drop_index('ix_billing_return_month_institution', table_name='billing_return')
    op.drop_table('billing_return')
    op.drop_index('uq_tax_status_year_person', table_name='tax_status')
    op.drop_index('ix_tax_status_year_household', table_name='tax_status')
    op.drop_table('tax_status')
    op.drop_index('uq_subsidy_decision_current', table_name='subsidy_decision', sqlite_where=sa.text("status = 'current'"), postgresql_where=sa.text("status = 'current'"))
    op.drop_table('subsidy_decision')
    op.drop_table('institution_bank_account')
    op.drop_index('uq_billing_run_month_no', table_name='billing_run')
    op.drop_table('billing_run')
    op.drop_index('uq_billing_claim_key', table_name='billing_claim')
    op.drop_table('billing_claim')
    op.drop_table('billing_month')
