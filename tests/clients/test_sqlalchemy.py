"""SQLAlchemy 2 ORM (psycopg 3 driver): create_all, inserts, joins, relationship loading."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import ForeignKey, Numeric, String, create_engine, func, select
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    joinedload,
    mapped_column,
    relationship,
    selectinload,
)

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]


def _models(suffix: str):  # type: ignore[no-untyped-def]
    class Base(DeclarativeBase):
        pass

    class Author(Base):
        __tablename__ = f"authors_{suffix}"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(50), unique=True)
        born: Mapped[dt.date | None]
        books: Mapped[list[Book]] = relationship(back_populates="author", order_by="Book.id")

    class Book(Base):
        __tablename__ = f"books_{suffix}"
        id: Mapped[int] = mapped_column(primary_key=True)
        title: Mapped[str]
        price: Mapped[Decimal] = mapped_column(Numeric(8, 2))
        author_id: Mapped[int] = mapped_column(ForeignKey(f"authors_{suffix}.id"))
        author: Mapped[Author] = relationship(back_populates="books")

    return Base, Author, Book


def test_orm_create_insert_query_and_load(node):
    Base, Author, Book = _models(node.name)
    engine = create_engine(f"postgresql+psycopg://{node.user}@{node.host}:{node.port}/{node.dbname}")
    try:
        Base.metadata.drop_all(engine)
        Base.metadata.create_all(engine)
        Base.metadata.create_all(engine)  # a second time: the tables are found, nothing happens
        with Session(engine) as session:
            ada = Author(name="Ada", born=dt.date(1815, 12, 10))
            ada.books = [Book(title="Notes", price=Decimal("9.99")), Book(title="Letters", price=Decimal("5"))]
            session.add_all([ada, Author(name="Grace")])
            session.commit()
        with Session(engine) as session:
            rows = session.execute(
                select(Author.name, func.count(Book.id))
                .join(Book, isouter=True)
                .group_by(Author.name)
                .order_by(Author.name)
            ).all()
            assert rows == [("Ada", 2), ("Grace", 0)]
            authors = session.scalars(select(Author).options(selectinload(Author.books)).order_by(Author.id)).all()
            assert [[b.title for b in a.books] for a in authors] == [["Notes", "Letters"], []]
            book = session.scalars(select(Book).options(joinedload(Book.author)).where(Book.price > 6)).one()
            assert (book.title, book.author.name) == ("Notes", "Ada")
            book.price = Decimal("12.50")
            session.commit()
            assert session.scalar(select(func.sum(Book.price))) == Decimal("17.50")
    finally:
        engine.dispose()
