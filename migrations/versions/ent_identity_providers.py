"""identity providers (OIDC, CAS) and the links of accounts to their ENT identity

Revision ID: ent0001
Revises: cf215e3908cb
Create Date: 2026-12-03 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'ent0001'
down_revision = 'cf215e3908cb'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('identity_providers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('protocol', sa.String(length=10), nullable=False),
    sa.Column('label', sa.String(length=80), nullable=False),
    sa.Column('server_url', sa.String(length=300), nullable=False),
    sa.Column('client_id', sa.String(length=200), nullable=False),
    sa.Column('client_secret', sa.String(length=300), nullable=False),
    sa.Column('cas_version', sa.Integer(), nullable=False),
    sa.Column('email_claim', sa.String(length=80), nullable=False),
    sa.Column('national_id_claim', sa.String(length=80), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("protocol in ('oidc', 'cas')", name=op.f('ck_identity_providers_protocol')),
    sa.CheckConstraint('cas_version in (2, 3)', name=op.f('ck_identity_providers_cas_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_providers'))
    )
    op.create_table('identity_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('matched_by', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['provider_id'], ['identity_providers.id'], name=op.f('fk_identity_links_provider_id_identity_providers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_identity_links_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_links')),
    sa.UniqueConstraint('provider_id', 'subject', name=op.f('uq_identity_links_provider_id_subject')),
    sa.UniqueConstraint('provider_id', 'user_id', name=op.f('uq_identity_links_provider_id_user_id'))
    )
    with op.batch_alter_table('identity_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identity_links_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('identity_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identity_links_user_id'))
    op.drop_table('identity_links')
    op.drop_table('identity_providers')
